import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { writeDelays, WriteTimer } from "../../src/worker/pairing-session/write-timer";

const WRITE_DELAY_MS = writeDelays(100);

describe("the relay's write timer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const counted = () => {
    const writes: number[] = [];
    return { writes, timer: new WriteTimer(() => writes.push(Date.now()), () => Date.now()) };
  };

  it("waits for the receiver's ack after a forward, and writes soon after the ack", () => {
    const { writes, timer } = counted();
    const start = Date.now();
    timer.within(WRITE_DELAY_MS.forwarded);
    vi.advanceTimersByTime(2);
    expect(writes).toEqual([]);
    timer.within(WRITE_DELAY_MS.acked);
    vi.advanceTimersByTime(WRITE_DELAY_MS.acked);
    expect(writes).toEqual([start + 2 + WRITE_DELAY_MS.acked]);
    // The forward's own deadline was dropped with it: nothing more is written.
    vi.advanceTimersByTime(WRITE_DELAY_MS.forwarded);
    expect(writes).toHaveLength(1);
  });

  it("writes a forward no ack follows by its deadline", () => {
    const { writes, timer } = counted();
    timer.within(WRITE_DELAY_MS.forwarded);
    vi.advanceTimersByTime(WRITE_DELAY_MS.forwarded - 1);
    expect(writes).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(writes).toHaveLength(1);
  });

  it("keeps the earliest write: later forwards and acks join it rather than put it off", () => {
    const { writes, timer } = counted();
    timer.within(WRITE_DELAY_MS.forwarded);
    vi.advanceTimersByTime(WRITE_DELAY_MS.forwarded - 2);
    // An ack asking for later than the forward's deadline does not move it.
    timer.within(WRITE_DELAY_MS.acked);
    vi.advanceTimersByTime(2);
    expect(writes).toHaveLength(1);
  });

  it("runs at once when asked, whatever waits", () => {
    const { writes, timer } = counted();
    timer.within(WRITE_DELAY_MS.unforwarded);
    timer.within(WRITE_DELAY_MS.forwarded);
    timer.within(WRITE_DELAY_MS.acked);
    vi.advanceTimersByTime(0);
    expect(writes).toHaveLength(1);
    vi.advanceTimersByTime(WRITE_DELAY_MS.forwarded);
    expect(writes).toHaveLength(1);
  });

  it("commits a steady stream every few milliseconds, not once a frame", () => {
    const { writes, timer } = counted();
    // 500 frames a second for a second, each acknowledged 0.2 ms after its forward (rounded up to the next ms here).
    for (let frame = 0; frame < 500; frame++) {
      timer.within(WRITE_DELAY_MS.forwarded);
      vi.advanceTimersByTime(1);
      timer.within(WRITE_DELAY_MS.acked);
      vi.advanceTimersByTime(1);
    }
    vi.advanceTimersByTime(WRITE_DELAY_MS.forwarded);
    // One write per ack delay and the frame that starts the next: at most a third of the frames.
    expect(writes.length).toBeGreaterThan(100);
    expect(writes.length).toBeLessThanOrEqual(Math.ceil(500 / 3));
  });

  it("schedules again after each write", () => {
    const { writes, timer } = counted();
    timer.within(WRITE_DELAY_MS.unforwarded);
    vi.advanceTimersByTime(0);
    timer.within(WRITE_DELAY_MS.forwarded);
    vi.advanceTimersByTime(WRITE_DELAY_MS.forwarded);
    expect(writes).toHaveLength(2);
  });
});
