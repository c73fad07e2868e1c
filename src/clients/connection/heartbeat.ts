// Keeps an open socket alive and notices when it is not: a ping every
// HEARTBEAT.intervalMs, and a socket that stays silent REPLY_TIMEOUT_MS after
// a ping is dead (a sleeping laptop, a dropped network) even if no close came.
import { HEARTBEAT } from "../../shared/protocol";

export const REPLY_TIMEOUT_MS = 5_000;

export class Heartbeat {
  private pinging: ReturnType<typeof setInterval> | undefined;
  private waiting: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ping: () => void,
    private readonly dead: () => void,
  ) {}

  /** The socket opened. */
  start(): void {
    this.stop();
    this.pinging = setInterval(() => {
      this.ping();
      this.waiting ??= setTimeout(() => {
        this.stop();
        this.dead();
      }, REPLY_TIMEOUT_MS);
    }, HEARTBEAT.intervalMs);
  }

  /** Anything from the server, a pong or a message, shows the socket is alive. */
  heard(): void {
    if (this.waiting !== undefined) clearTimeout(this.waiting);
    this.waiting = undefined;
  }

  stop(): void {
    if (this.pinging !== undefined) clearInterval(this.pinging);
    this.pinging = undefined;
    this.heard();
  }
}
