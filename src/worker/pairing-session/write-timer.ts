// When the relay's burst is written: one pending write, run at the earliest
// time anything it holds asks for. Frames forwarded to a receiver ask for the
// latest: its ack usually comes first, and frames acknowledged before the
// write are never written at all (frame-store.ts). An ack asks for a little
// later than now, so a steady stream commits every few milliseconds, not
// once a frame: a frame forwarded while a write commits waits for it, so
// fewer writes mean fewer frames held back. Nothing about durability
// changes: no sender is told anything until the write it waits for has run.

/** How long a write may wait, by what it holds. */
export interface WriteDelays {
  /** Frames stored for a receiver that is away: their sender waits for `stored`, so once the messages already waiting are handled. */
  unforwarded: number;
  /** Acks: a few more may come. */
  acked: number;
  /** Frames forwarded to a receiver: written anyway if its ack has not come by then. */
  forwarded: number;
  /** Frames held ahead of a gap: nobody is told of them until the gap is filled, and then they are forwarded. */
  held: number;
}

/** The delays, with `ackWaitMs` (RELAY_ACK_WAIT_MS) for frames a receiver may yet acknowledge. */
export function writeDelays(ackWaitMs: number): WriteDelays {
  return { unforwarded: 0, acked: 5, forwarded: ackWaitMs, held: ackWaitMs };
}

export class WriteTimer {
  private scheduled: { timer: ReturnType<typeof setTimeout>; dueAt: number } | null = null;

  constructor(
    private readonly write: () => void,
    /** A monotonic clock: a wall clock set back would put a due write off. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Runs the write `delayMs` from now, unless one is already due at least as soon. */
  within(delayMs: number): void {
    const scheduled = this.scheduled;
    const dueAt = this.now() + delayMs;
    if (scheduled && scheduled.dueAt <= dueAt) return;
    if (scheduled) clearTimeout(scheduled.timer);
    this.scheduled = {
      dueAt,
      timer: setTimeout(() => {
        this.scheduled = null;
        this.write();
      }, delayMs),
    };
  }
}
