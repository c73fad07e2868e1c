// The session's one alarm, behind named deadlines. Each deadline is computed
// from the state, the sockets and the outbox by one pure function, so code
// that changes state only asks for a re-arm; nothing arms the alarm itself.
import type { OutboxEntry, Session } from "./session";
import { scheduleEnd } from "./tokens";

export type DeadlineName =
  /** A QR session's last token expires unscanned: the session ends. */
  | "expire"
  /** A code session's code expires untried: the session ends. */
  | "code"
  /** A scan that nobody confirmed in time ends. */
  | "confirm"
  /** A call to the Account that failed is tried again. */
  | "outbox"
  /** A linked browser unused for too long is logged out. */
  | "device_idle"
  /** A resume left its challenge unanswered. */
  | "challenge";

export interface Deadline {
  name: DeadlineName;
  at: number;
}

export interface DeadlineConfig {
  confirmTimeoutMs: number;
  deviceIdleMs: number;
  phoneOfflineMs: number;
  socketIdleMs: number;
  challengeTimeoutMs: number;
}

/** What the alarm needs to know of a socket. */
export interface WatchedSocket {
  role: "browser" | "phone";
  /** A browser that opened the session or answered its resume challenge. */
  verified: boolean;
  connectedAt: number;
  /** Its last message or runtime-answered heartbeat. */
  lastSeenAt: number;
}

/** A failed call to the Account (an outbox entry) is tried again after 1 s, 2 s, 4 s, … up to a minute. */
export function retryDelayMs(attempts: number): number {
  return Math.min(1_000 * 2 ** attempts, 60_000);
}

/** When a socket counts as silent and is closed. */
export function silentAt(socket: WatchedSocket, config: DeadlineConfig): number {
  if (socket.role === "phone") return socket.lastSeenAt + config.phoneOfflineMs;
  return socket.verified ? socket.lastSeenAt + config.socketIdleMs : socket.connectedAt + config.challengeTimeoutMs;
}

/** Every deadline the session has now, whether due or not. */
export function deadlines(session: Session | null, sockets: readonly WatchedSocket[], outbox: readonly OutboxEntry[], config: DeadlineConfig): Deadline[] {
  const found: Deadline[] = outbox.map((entry) => ({ name: "outbox", at: entry.dueAt }));
  switch (session?.state) {
    case "pending":
      found.push(session.code ? { name: "code", at: session.code.expiresAt } : { name: "expire", at: scheduleEnd(session.tokens) });
      break;
    case "scanned":
    case "confirming":
      found.push({ name: "confirm", at: session.scannedAt + config.confirmTimeoutMs });
      break;
    case "linked":
      found.push({ name: "device_idle", at: session.browserActiveAt + config.deviceIdleMs });
      // Only a resume waits on a clock. Silent phones and browsers are found when
      // the object wakes anyway (a message, a browser's presence check): an idle
      // link whose sockets only send heartbeats runs no alarm at all.
      for (const socket of sockets) if (!socket.verified) found.push({ name: "challenge", at: silentAt(socket, config) });
      break;
  }
  return found;
}

/** The earliest deadline, which the alarm is set to; null leaves no alarm. */
export function nextAlarm(found: readonly Deadline[]): number | null {
  return found.reduce<number | null>((earliest, deadline) => (earliest === null || deadline.at < earliest ? deadline.at : earliest), null);
}

/** The names due at `now`, each once, in the order they should run. */
export function dueNow(found: readonly Deadline[], now: number): DeadlineName[] {
  const order: DeadlineName[] = ["outbox", "expire", "code", "confirm", "challenge", "device_idle"];
  const due = new Set(found.filter((deadline) => deadline.at <= now).map((deadline) => deadline.name));
  return order.filter((name) => due.has(name));
}
