// How long to wait before the next reconnect: doubling from MIN to MAX, each
// wait spread by ±JITTER so clients that lost the server together do not
// all come back at the same instant.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
const GROWTH = 2;
const JITTER = 0.2;

export class Backoff {
  private attempt = 0;

  /** `random` in [0, 1): Math.random, or a fixed value in tests. */
  constructor(private readonly random: () => number = Math.random) {}

  /** The wait before the next attempt; each call without a `reset` waits longer, up to MAX_DELAY_MS. */
  next(): number {
    const base = Math.min(MIN_DELAY_MS * GROWTH ** this.attempt, MAX_DELAY_MS);
    this.attempt++;
    return Math.round(base * (1 - JITTER + 2 * JITTER * this.random()));
  }

  /** The server answered: the next loss starts again from the shortest wait. */
  reset(): void {
    this.attempt = 0;
  }
}
