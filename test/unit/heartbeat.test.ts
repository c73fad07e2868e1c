import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Heartbeat, REPLY_TIMEOUT_MS } from "../../src/clients/connection/heartbeat";
import { HEARTBEAT } from "../../src/shared/protocol";

describe("the heartbeat", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function started() {
    const pings: number[] = [];
    const dead = vi.fn();
    const heartbeat = new Heartbeat(() => pings.push(Date.now()), dead);
    heartbeat.start();
    return { heartbeat, pings, dead };
  }

  it("pings every interval and stays alive while the server answers", () => {
    const { heartbeat, pings, dead } = started();
    for (let beat = 0; beat < 5; beat++) {
      vi.advanceTimersByTime(HEARTBEAT.intervalMs);
      vi.advanceTimersByTime(100);
      heartbeat.heard();
    }
    expect(pings).toHaveLength(5);
    vi.advanceTimersByTime(REPLY_TIMEOUT_MS - 100);
    expect(dead).not.toHaveBeenCalled();
  });

  it("calls a socket dead when a ping goes unanswered, once, and pings no more", () => {
    const { pings, dead } = started();
    vi.advanceTimersByTime(HEARTBEAT.intervalMs + REPLY_TIMEOUT_MS - 1);
    expect(dead).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(dead).toHaveBeenCalledOnce();
    vi.advanceTimersByTime(10 * HEARTBEAT.intervalMs);
    expect(dead).toHaveBeenCalledOnce();
    expect(pings).toHaveLength(1);
  });

  it("does nothing once stopped", () => {
    const { heartbeat, pings, dead } = started();
    vi.advanceTimersByTime(HEARTBEAT.intervalMs);
    heartbeat.stop();
    vi.advanceTimersByTime(10 * HEARTBEAT.intervalMs);
    expect(pings).toHaveLength(1);
    expect(dead).not.toHaveBeenCalled();
  });
});
