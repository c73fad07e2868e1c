import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Direction } from "../../src/shared/protocol";
import {
  acknowledge,
  receive,
  unacknowledged,
  type BufferLimits,
  type Frame,
  type FrameStore,
  type Receipt,
  type RelayCursor,
} from "../../src/worker/pairing-session/relay-buffer";

/** The FrameStore contract in memory, as the SQLite one keeps it: a table of frames and a cursor per direction. */
class MemoryFrameStore implements FrameStore {
  private frames = new Map<Direction, Map<number, string>>([
    ["to_browser", new Map()],
    ["to_phone", new Map()],
  ]);
  private cursors = new Map<Direction, RelayCursor>([
    ["to_browser", { received: 0, delivered: 0, bufferedBytes: 0 }],
    ["to_phone", { received: 0, delivered: 0, bufferedBytes: 0 }],
  ]);

  cursor(direction: Direction): RelayCursor {
    return { ...this.cursors.get(direction)! };
  }

  take(direction: Direction, frame: Frame, received: number): void {
    const table = this.frames.get(direction)!;
    const cursor = this.cursors.get(direction)!;
    if (!table.has(frame.seq)) {
      table.set(frame.seq, frame.data);
      cursor.bufferedBytes += frame.data.length;
    }
    cursor.received = received;
  }

  framesAfter(direction: Direction, seq: number): Frame[] {
    return [...this.frames.get(direction)!]
      .filter(([stored]) => stored > seq)
      .sort(([a], [b]) => a - b)
      .map(([stored, data]) => ({ seq: stored, data }));
  }

  release(direction: Direction, seq: number): void {
    const table = this.frames.get(direction)!;
    let freed = 0;
    for (const [stored, data] of table) {
      if (stored > seq) continue;
      freed += data.length;
      table.delete(stored);
    }
    const cursor = this.cursors.get(direction)!;
    cursor.delivered = seq;
    cursor.bufferedBytes -= freed;
  }

  /** Every frame held, for checking what the buffer keeps. */
  held(direction: Direction): number[] {
    return [...this.frames.get(direction)!.keys()].sort((a, b) => a - b);
  }
}

const LIMITS: BufferLimits = { frames: 8, bytes: 1_000, frameBytes: 100 };
const TO_PHONE: Direction = "to_phone";

function frame(seq: number, bytes = 10): Frame {
  return { seq, data: String.fromCharCode(97 + (seq % 26)).repeat(bytes) };
}

function seqs(frames: readonly Frame[]): number[] {
  return frames.map((f) => f.seq);
}

describe("receive", () => {
  it("stores a frame in order and forwards it alone", () => {
    const store = new MemoryFrameStore();
    expect(receive(store, TO_PHONE, frame(1), LIMITS)).toEqual({ kind: "stored", stored: 1, forward: [frame(1)] });
    expect(receive(store, TO_PHONE, frame(2), LIMITS)).toEqual({ kind: "stored", stored: 2, forward: [frame(2)] });
    expect(store.cursor(TO_PHONE)).toEqual({ received: 2, delivered: 0, bufferedBytes: 20 });
  });

  it("keeps the two directions apart", () => {
    const store = new MemoryFrameStore();
    receive(store, "to_phone", frame(1), LIMITS);
    expect(receive(store, "to_browser", frame(1), LIMITS)).toMatchObject({ kind: "stored", stored: 1 });
    expect(store.cursor("to_browser").received).toBe(1);
    expect(store.cursor("to_phone").received).toBe(1);
  });

  it("answers a repeat with how far it has the frames, storing nothing again", () => {
    const store = new MemoryFrameStore();
    for (const seq of [1, 2, 3]) receive(store, TO_PHONE, frame(seq), LIMITS);
    expect(receive(store, TO_PHONE, frame(2), LIMITS)).toEqual({ kind: "repeat", stored: 3 });
    expect(receive(store, TO_PHONE, frame(1), LIMITS)).toEqual({ kind: "repeat", stored: 3 });
    expect(store.cursor(TO_PHONE).bufferedBytes).toBe(30);
  });

  it("answers a repeat of a frame already acknowledged and freed", () => {
    const store = new MemoryFrameStore();
    for (const seq of [1, 2]) receive(store, TO_PHONE, frame(seq), LIMITS);
    acknowledge(store, TO_PHONE, 2);
    expect(receive(store, TO_PHONE, frame(1), LIMITS)).toEqual({ kind: "repeat", stored: 2 });
  });

  it("holds frames after a gap, then releases them all in one run when the gap fills", () => {
    const store = new MemoryFrameStore();
    expect(receive(store, TO_PHONE, frame(3), LIMITS)).toEqual({ kind: "held" });
    expect(receive(store, TO_PHONE, frame(2), LIMITS)).toEqual({ kind: "held" });
    expect(receive(store, TO_PHONE, frame(5), LIMITS)).toEqual({ kind: "held" });
    expect(store.cursor(TO_PHONE).received).toBe(0);
    expect(unacknowledged(store, TO_PHONE)).toEqual([]);

    const filled = receive(store, TO_PHONE, frame(1), LIMITS);
    expect(filled).toEqual({ kind: "stored", stored: 3, forward: [frame(1), frame(2), frame(3)] });
    expect(unacknowledged(store, TO_PHONE).map((f) => f.seq)).toEqual([1, 2, 3]);

    expect(receive(store, TO_PHONE, frame(4), LIMITS)).toEqual({ kind: "stored", stored: 5, forward: [frame(4), frame(5)] });
  });

  it("a held frame sent twice is held once", () => {
    const store = new MemoryFrameStore();
    receive(store, TO_PHONE, frame(2), LIMITS);
    expect(receive(store, TO_PHONE, frame(2), LIMITS)).toEqual({ kind: "held" });
    expect(store.cursor(TO_PHONE).bufferedBytes).toBe(10);
    expect(receive(store, TO_PHONE, frame(1), LIMITS)).toEqual({ kind: "stored", stored: 2, forward: [frame(1), frame(2)] });
  });

  it("refuses a frame as out_of_order beyond the window ahead of the next expected one", () => {
    const store = new MemoryFrameStore();
    receive(store, TO_PHONE, frame(1), LIMITS);
    const lastInWindow = 2 + LIMITS.frames - 1;
    expect(receive(store, TO_PHONE, frame(lastInWindow), LIMITS)).toEqual({ kind: "held" });
    expect(receive(store, TO_PHONE, frame(lastInWindow + 1), LIMITS)).toEqual({ kind: "refused", code: "out_of_order", expected: 2 });
    expect(store.held(TO_PHONE)).toEqual([1, lastInWindow]);
  });

  it("refuses buffer_full once `frames` frames wait for the receiver", () => {
    const store = new MemoryFrameStore();
    for (let seq = 1; seq <= LIMITS.frames; seq++) expect(receive(store, TO_PHONE, frame(seq), LIMITS)).toMatchObject({ kind: "stored" });
    const next = LIMITS.frames + 1;
    expect(receive(store, TO_PHONE, frame(next), LIMITS)).toEqual({ kind: "refused", code: "buffer_full", waiting: LIMITS.frames });
    // The receiver catches up: the same frame is taken.
    acknowledge(store, TO_PHONE, 3);
    expect(receive(store, TO_PHONE, frame(next), LIMITS)).toEqual({ kind: "stored", stored: next, forward: [frame(next)] });
  });

  it("refuses buffer_full when the bytes would exceed the budget", () => {
    const store = new MemoryFrameStore();
    const limits: BufferLimits = { frames: 100, bytes: 1_000, frameBytes: 300 };
    for (let seq = 1; seq <= 3; seq++) receive(store, TO_PHONE, frame(seq, 300), limits);
    expect(receive(store, TO_PHONE, frame(4, 101), limits)).toEqual({ kind: "refused", code: "buffer_full", waiting: 3 });
    expect(receive(store, TO_PHONE, frame(4, 100), limits)).toMatchObject({ kind: "stored", stored: 4 });
  });

  it("keeps the last frame's worth of bytes for the frame that fills the gap", () => {
    const store = new MemoryFrameStore();
    const limits: BufferLimits = { frames: 100, bytes: 1_000, frameBytes: 300 };
    // Ahead of the gap, only bytes - frameBytes = 700 may be held.
    expect(receive(store, TO_PHONE, frame(2, 300), limits)).toEqual({ kind: "held" });
    expect(receive(store, TO_PHONE, frame(3, 300), limits)).toEqual({ kind: "held" });
    expect(receive(store, TO_PHONE, frame(4, 101), limits)).toEqual({ kind: "refused", code: "buffer_full", waiting: 0 });
    expect(receive(store, TO_PHONE, frame(1, 300), limits)).toEqual({ kind: "stored", stored: 3, forward: [frame(1, 300), frame(2, 300), frame(3, 300)] });
  });

  it("does not wedge: after a burst of large frames ahead of a gap, the missing first one still fits and everything arrives once, in order", () => {
    const store = new MemoryFrameStore();
    const limits: BufferLimits = { frames: 1_000, bytes: 8 * 1024 * 1024, frameBytes: 64 * 1024 };
    const big = (seq: number) => frame(seq, 60 * 1024);
    const delivered: number[] = [];
    const take = (receipt: Receipt) => {
      if (receipt.kind === "stored") delivered.push(...seqs(receipt.forward));
      return receipt;
    };

    const refused: number[] = [];
    for (let seq = 2; seq <= 140; seq++) {
      const receipt = take(receive(store, TO_PHONE, big(seq), limits));
      if (receipt.kind === "refused") {
        expect(receipt.code).toBe("buffer_full");
        refused.push(seq);
      } else expect(receipt.kind).toBe("held");
    }
    expect(refused.length).toBeGreaterThan(0);
    expect(delivered).toEqual([]);

    const first = take(receive(store, TO_PHONE, big(1), limits));
    expect(first.kind).toBe("stored");
    if (first.kind !== "stored") return;
    expect(first.forward[0]!.seq).toBe(1);
    expect(first.stored).toBe(refused[0]! - 1);

    // The receiver acknowledges what it got; the sender resends what was refused, acknowledging as it goes.
    expect(acknowledge(store, TO_PHONE, first.stored)).toBe(true);
    for (const seq of refused) {
      const receipt = take(receive(store, TO_PHONE, big(seq), limits));
      expect(receipt.kind).toBe("stored");
      if (receipt.kind === "stored") acknowledge(store, TO_PHONE, receipt.stored);
    }

    expect(delivered).toEqual(Array.from({ length: 140 }, (_, i) => i + 1));
    expect(store.cursor(TO_PHONE)).toEqual({ received: 140, delivered: 140, bufferedBytes: 0 });
    expect(store.held(TO_PHONE)).toEqual([]);
  });
});

describe("storage failures", () => {
  it("a receive whose write fails leaves nothing behind, so the frame sent again is counted in full", () => {
    class FailingOnce extends MemoryFrameStore {
      failNextTake = true;
      override take(direction: Direction, frame: Frame, received: number): void {
        if (this.failNextTake) {
          this.failNextTake = false;
          throw new Error("storage unavailable");
        }
        super.take(direction, frame, received);
      }
    }
    const store = new FailingOnce();
    expect(() => receive(store, TO_PHONE, frame(1), LIMITS)).toThrow("storage unavailable");
    expect(store.held(TO_PHONE)).toEqual([]);
    expect(receive(store, TO_PHONE, frame(1), LIMITS)).toEqual({ kind: "stored", stored: 1, forward: [frame(1)] });
    expect(store.cursor(TO_PHONE)).toEqual({ received: 1, delivered: 0, bufferedBytes: 10 });
  });
});

describe("acknowledge", () => {
  function storeWith(count: number): MemoryFrameStore {
    const store = new MemoryFrameStore();
    for (let seq = 1; seq <= count; seq++) receive(store, TO_PHONE, frame(seq), LIMITS);
    return store;
  }

  it("frees the frames up to seq and their bytes", () => {
    const store = storeWith(4);
    expect(acknowledge(store, TO_PHONE, 3)).toBe(true);
    expect(store.cursor(TO_PHONE)).toEqual({ received: 4, delivered: 3, bufferedBytes: 10 });
    expect(store.held(TO_PHONE)).toEqual([4]);
  });

  it("ignores an acknowledgement that says nothing new", () => {
    const store = storeWith(4);
    acknowledge(store, TO_PHONE, 3);
    expect(acknowledge(store, TO_PHONE, 3)).toBe(false);
    expect(acknowledge(store, TO_PHONE, 2)).toBe(false);
    expect(acknowledge(store, TO_PHONE, 0)).toBe(false);
    expect(store.cursor(TO_PHONE)).toEqual({ received: 4, delivered: 3, bufferedBytes: 10 });
  });

  it("ignores an acknowledgement of frames never received, including frames only held", () => {
    const store = storeWith(2);
    receive(store, TO_PHONE, frame(4), LIMITS);
    expect(acknowledge(store, TO_PHONE, 3)).toBe(false);
    expect(acknowledge(store, TO_PHONE, 4)).toBe(false);
    expect(store.cursor(TO_PHONE)).toEqual({ received: 2, delivered: 0, bufferedBytes: 30 });
    expect(store.held(TO_PHONE)).toEqual([1, 2, 4]);
  });
});

describe("unacknowledged", () => {
  it("is every frame received in order and not yet acknowledged, without the held ones", () => {
    const store = new MemoryFrameStore();
    for (const seq of [1, 2, 3, 4]) receive(store, TO_PHONE, frame(seq), LIMITS);
    receive(store, TO_PHONE, frame(6), LIMITS);
    acknowledge(store, TO_PHONE, 2);
    expect(unacknowledged(store, TO_PHONE)).toEqual([frame(3), frame(4)]);
  });

  it("is empty when everything was acknowledged", () => {
    const store = new MemoryFrameStore();
    for (const seq of [1, 2]) receive(store, TO_PHONE, frame(seq), LIMITS);
    acknowledge(store, TO_PHONE, 2);
    expect(unacknowledged(store, TO_PHONE)).toEqual([]);
  });
});

describe("any arrival order", () => {
  it("forwards each frame exactly once and in order, whatever order and repeats the sender's frames arrive in", () => {
    const count = 20;
    const limits: BufferLimits = { frames: 50, bytes: 10_000, frameBytes: 100 };
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: count }), { maxLength: 60 }),
        fc.boolean(),
        (arrivals, ackAsForwarded) => {
          const store = new MemoryFrameStore();
          const forwarded: number[] = [];
          // The sender's arrivals, then every frame once more in order, as a reconnecting sender resends what is unconfirmed.
          for (const seq of [...arrivals, ...Array.from({ length: count }, (_, i) => i + 1)]) {
            const receipt = receive(store, TO_PHONE, frame(seq), limits);
            expect(receipt.kind).not.toBe("refused");
            if (receipt.kind !== "stored") continue;
            forwarded.push(...seqs(receipt.forward));
            if (ackAsForwarded) acknowledge(store, TO_PHONE, receipt.stored);
          }
          expect(forwarded).toEqual(Array.from({ length: count }, (_, i) => i + 1));
          expect(store.cursor(TO_PHONE).received).toBe(count);
          expect(store.cursor(TO_PHONE).bufferedBytes).toBe(ackAsForwarded ? 0 : count * 10);
        },
      ),
      { numRuns: 300 },
    );
  });
});
