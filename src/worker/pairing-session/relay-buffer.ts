// The relay buffer: frames a sender has handed over and the receiver has not
// acknowledged, per direction, over a small storage interface so the rules
// are tested on their own. A frame is stored, then acknowledged to the sender
// as `stored`; it is forwarded in order; an `ack` from the receiver frees it.
import type { Direction } from "../../shared/protocol";

export interface Frame {
  seq: number;
  data: string;
}

/** Where a direction stands: the highest frame received in order, the highest acknowledged, and the bytes held. */
export interface RelayCursor {
  received: number;
  delivered: number;
  bufferedBytes: number;
}

export interface FrameStore {
  cursor(direction: Direction): RelayCursor;
  /** The stored frames after `seq`, in order. */
  framesAfter(direction: Direction, seq: number): Frame[];
  /** Stores a frame (unless one with its seq is already held) and moves `received` to `received`, all or nothing. */
  take(direction: Direction, frame: Frame, received: number): void;
  /** Deletes the frames up to `seq` and records them delivered, all or nothing. */
  release(direction: Direction, seq: number): void;
}

export interface BufferLimits {
  /** Frames held per direction, and how far ahead of the next expected frame one may be. */
  frames: number;
  bytes: number;
  /** The largest frame: that much of the byte budget is kept for the frame that fills a gap. */
  frameBytes: number;
}

export type Receipt =
  /** Already stored: the sender is told again how far the relay has it. */
  | { kind: "repeat"; stored: number }
  /** Stored ahead of a gap; it is acknowledged once the gap is filled. */
  | { kind: "held" }
  /** Stored, with the run of frames now in order, to acknowledge and forward. */
  | { kind: "stored"; stored: number; forward: Frame[] }
  | { kind: "refused"; code: "out_of_order"; expected: number }
  | { kind: "refused"; code: "buffer_full"; waiting: number };

/**
 * Takes a frame from a sender. A burst that reaches the object out of order is
 * put back in order; frames ahead of a gap may not use the last frame's worth
 * of the byte budget, so the frame that fills the gap always fits.
 */
export function receive(store: FrameStore, direction: Direction, frame: Frame, limits: BufferLimits): Receipt {
  const cursor = store.cursor(direction);
  const expected = cursor.received + 1;
  if (frame.seq < expected) return { kind: "repeat", stored: cursor.received };
  if (frame.seq >= expected + limits.frames) return { kind: "refused", code: "out_of_order", expected };
  const waiting = cursor.received - cursor.delivered;
  const budget = frame.seq === expected ? limits.bytes : limits.bytes - limits.frameBytes;
  if (waiting >= limits.frames || cursor.bufferedBytes + frame.data.length > budget) return { kind: "refused", code: "buffer_full", waiting };

  // Each path reads what it needs, then makes one change (`take`): a read that fails changes nothing.
  if (frame.seq !== expected) {
    store.take(direction, frame, cursor.received);
    return { kind: "held" };
  }
  // The frame that was expected: it, and any held frames that now follow it without a gap.
  const forward = [frame];
  for (const held of store.framesAfter(direction, frame.seq)) {
    if (held.seq !== forward.at(-1)!.seq + 1) break;
    forward.push(held);
  }
  const stored = forward.at(-1)!.seq;
  store.take(direction, frame, stored);
  return { kind: "stored", stored, forward };
}

/** The receiver has processed everything up to `seq`; false when that says nothing new (or claims what was never received). */
export function acknowledge(store: FrameStore, direction: Direction, seq: number): boolean {
  const cursor = store.cursor(direction);
  if (seq <= cursor.delivered || seq > cursor.received) return false;
  store.release(direction, seq);
  return true;
}

/** What a receiver that (re)connects is owed: every frame received in order and not yet acknowledged. */
export function unacknowledged(store: FrameStore, direction: Direction): Frame[] {
  const cursor = store.cursor(direction);
  return store.framesAfter(direction, cursor.delivered).filter((frame) => frame.seq <= cursor.received);
}
