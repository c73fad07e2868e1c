// When the relay's burst is written: one pending write, run at the earliest
// time anything it holds asks for. Frames just forwarded to a receiver ask
// for the latest time: a write started before they have left holds them
// behind its commit, and frames the receiver acknowledges first are never
// written at all (frame-store.ts). Its ack asks for a little later than
// now, so a steady stream commits every few milliseconds, not once a frame.
// Nothing about durability changes: no sender is told anything until the
// write it waits for has run.

/** How long a write may wait, by what it holds. */
export const WRITE_DELAY_MS = {
  /** Frames no receiver was sent (it is away), whose sender waits for `stored`: once the messages already waiting are handled. */
  now: 0,
  /** Acks: a few more may come. */
  acked: 5,
  /** Frames forwarded to a receiver (its ack usually comes first; written anyway if it does not), or held ahead of a gap. */
  forwarded: 100,
} as const;

export class WriteTimer {
  private scheduled: { timer: ReturnType<typeof setTimeout>; dueAt: number } | null = null;

  constructor(private readonly write: () => void) {}

  /** Runs the write `delayMs` from now, unless one is already due at least as soon. */
  within(delayMs: number): void {
    const scheduled = this.scheduled;
    const dueAt = Date.now() + delayMs;
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
