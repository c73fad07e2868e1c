// The QR codes a session hands over ahead of time, each shown in its window.
// The windows are in the server's clock; the tab knows the difference from
// the session's `createdAt`, the server's time when it sent it.
import type { ServerMessageOf } from "../../shared/protocol";

export type TokenMessage = ServerMessageOf<"token">;

export class TokenSchedule {
  private readonly tokens = new Map<number, TokenMessage>();

  /** `serverAheadMs`: the server's clock minus this tab's. */
  constructor(private readonly serverAheadMs: number) {}

  /** A token, or a replacement for one (the same `seq`). */
  add(message: TokenMessage): void {
    this.tokens.set(message.seq, message);
  }

  /** The token to show at `now` (this tab's clock): the latest whose window has begun (a replacement begins later), or the first before any has. */
  due(now: number): TokenMessage | null {
    const serverNow = now + this.serverAheadMs;
    const all = [...this.tokens.values()].sort((a, b) => a.startsAt - b.startsAt);
    return all.filter((token) => token.startsAt <= serverNow).at(-1) ?? all[0] ?? null;
  }

  /** When (this tab's clock) the next token's window begins, or null when none is left to come. */
  nextChangeAt(now: number): number | null {
    const serverNow = now + this.serverAheadMs;
    const upcoming = [...this.tokens.values()].map((token) => token.startsAt).filter((startsAt) => startsAt > serverNow);
    return upcoming.length ? Math.min(...upcoming) - this.serverAheadMs : null;
  }
}
