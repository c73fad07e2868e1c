// One client WebSocket to the server, the same for the QR screen, the linked
// browser, the phone page and the CLI phone. partysocket does the reconnect
// loop (a fresh URL and subprotocols per attempt, a connect timeout, no
// reconnect after a final close); this adds what it lacks: a jittered
// backoff whose wait the UI can show, heartbeats that notice a silent socket,
// server messages read without ever throwing, and the close codes' meanings.
import ReconnectingWebSocket from "partysocket/ws";
import { CLOSE_CODES, HEARTBEAT, parseServerMessage, type ClientMessage, type ServerMessage } from "../../shared/protocol";
import { Backoff } from "./backoff";
import { closeMeaning, endingOf, type Ending, type Role } from "./close-codes";
import { Heartbeat } from "./heartbeat";

/** Where to connect; asked again before every attempt, so a signature can carry a fresh time. */
export interface ConnectionTarget {
  url: string;
  protocols?: string[];
}

/** The WebSocket URL of a server path: wss on an https server, ws on http. */
export function webSocketUrl(path: string, server: string): string {
  const url = new URL(path, server);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/** A WebSocket class: the page's own, or `ws` in Node. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => unknown;

export interface ConnectionEvents {
  /** The socket is open; what the server says next is the role's business. */
  open?(): void;
  /** A server message, read and checked; a pong or anything unreadable never gets here. */
  message(message: ServerMessage): void | Promise<void>;
  /** The socket closed with `code`; `reconnecting` or `ended` follows. */
  closed?(code: number): void;
  /** The next attempt starts in `delayMs`. */
  reconnecting?(delayMs: number): void;
  /** The server ended this (an `ended` message, or a final close code for the role): no more attempts. */
  ended(ending: Ending): void;
}

export interface ConnectionOptions {
  role: Role;
  target: () => ConnectionTarget | Promise<ConnectionTarget>;
  /** Needed where there is no global WebSocket (Node 20). */
  WebSocket?: WebSocketClass;
}

/** How long an attempt may take to open before it counts as failed. */
const CONNECT_TIMEOUT_MS = 10_000;

export class Connection {
  private readonly socket: ReconnectingWebSocket;
  private readonly backoff = new Backoff();
  private readonly heartbeat: Heartbeat;
  private role: Role;
  private targetOf: () => ConnectionTarget | Promise<ConnectionTarget>;
  private events: ConnectionEvents;
  private attempts = 0;
  /** The attempt being prepared: its URL and subprotocols come from one call to `targetOf`. */
  private target: Promise<ConnectionTarget> | null = null;
  /** Ends the wait before the next attempt early (`reconnectNow`, `close`). */
  private wake: (() => void) | null = null;
  /** The next attempt skips the wait (`reconnectNow` on a socket that is up or connecting). */
  private skipWait = false;
  /** Set once it ended or was closed: no event after that. */
  private finished = false;

  constructor(options: ConnectionOptions, events: ConnectionEvents) {
    this.role = options.role;
    this.targetOf = options.target;
    this.events = events;
    this.heartbeat = new Heartbeat(
      () => this.socket.send(HEARTBEAT.request),
      () => this.socket.reconnect(CLOSE_CODES.heartbeat_timeout, "no heartbeat reply"),
    );
    this.socket = new ReconnectingWebSocket(
      () => this.nextUrl(),
      () => this.nextProtocols(),
      {
        WebSocket: options.WebSocket,
        // The wait is this class's (see nextUrl), so partysocket's own is none.
        minReconnectionDelay: 0,
        connectionTimeout: CONNECT_TIMEOUT_MS,
        // Nothing is queued while down: each role resends what it must once the server says it is ready.
        maxEnqueuedMessages: 0,
        shouldReconnectOnClose: (event) => !this.finished && !closeMeaning(this.role, event.code).final,
      },
    );
    this.socket.addEventListener("open", () => this.onOpen());
    this.socket.addEventListener("message", (event) => this.onMessage(event.data));
    this.socket.addEventListener("close", (event) => this.onClose(event.code));
  }

  get isOpen(): boolean {
    return !this.finished && this.socket.readyState === ReconnectingWebSocket.OPEN;
  }

  /** Sends now, or not at all (false) while the socket is down. */
  send(message: ClientMessage): boolean {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Tries again at once (the user asked, or the network came back), from the shortest wait. */
  reconnectNow(): void {
    if (this.finished) return;
    this.backoff.reset();
    if (this.wake) return this.wake();
    this.skipWait = true;
    this.socket.reconnect(1000, "reconnecting");
  }

  /**
   * The socket now serves another role at another address (the QR screen's
   * socket becomes the linked browser's): it stays open, and the next attempt
   * goes to the new target with the new role's close meanings.
   */
  handOver(options: Omit<ConnectionOptions, "WebSocket">, events: ConnectionEvents): void {
    this.role = options.role;
    this.targetOf = options.target;
    this.events = events;
  }

  /** Closes for good, from this side: no `ended`, no reconnect. */
  close(reason = "closed"): void {
    this.finished = true;
    this.heartbeat.stop();
    this.wake?.();
    this.socket.close(1000, reason);
  }

  private nextUrl(): Promise<string> {
    this.target = this.prepareAttempt();
    return this.target.then((target) => target.url);
  }

  /** partysocket asks for the subprotocols right after the URL, for the same attempt. */
  private async nextProtocols(): Promise<string[] | null> {
    return (await this.target)?.protocols ?? null;
  }

  /** Waits the backoff before any attempt but the first, then asks where to connect (so a signature is made after the wait). */
  private async prepareAttempt(): Promise<ConnectionTarget> {
    const wait = this.attempts++ > 0 && !this.skipWait;
    this.skipWait = false;
    if (wait) {
      const delayMs = this.backoff.next();
      if (!this.finished) this.events.reconnecting?.(delayMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.targetOf();
  }

  private onOpen(): void {
    if (this.finished) return;
    this.heartbeat.start();
    this.events.open?.();
  }

  private onMessage(data: unknown): void {
    if (this.finished) return;
    this.heartbeat.heard();
    if (data === HEARTBEAT.response) return;
    const message = parseServerMessage(data);
    if (!message) return; // Not a message this client knows (a newer server's, or garbage): dropped.
    this.backoff.reset();
    if (message.type === "ended") {
      this.finish(endingOf(this.role, message.reason));
      this.socket.close(1000, "ended");
      return;
    }
    const deliver = async () => this.events.message(message);
    deliver().catch((error: unknown) => console.error(`handling a ${message.type} message failed`, error));
  }

  private onClose(code: number): void {
    this.heartbeat.stop();
    if (this.finished) return;
    this.events.closed?.(code);
    const meaning = closeMeaning(this.role, code);
    if (meaning.final) this.finish(meaning);
  }

  private finish(ending: Ending): void {
    this.finished = true;
    this.heartbeat.stop();
    this.events.ended({ reason: ending.reason, notice: ending.notice });
  }
}
