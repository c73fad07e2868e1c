// The session's hibernatable WebSockets: accepting and refusing upgrades, the
// small attachment each socket keeps across hibernation (validated when read
// back), who may be sent what, and closing properly.
import { CLOSE_CODES, type ServerMessage } from "../../shared/protocol";
import type { WatchedSocket } from "./deadlines";

/** Kept on each socket so it survives hibernation. A browser socket is verified when it opened the session or answered its challenge. */
export type SocketAttachment = { role: "browser"; verified: boolean; nonce?: string; connectedAt: number } | { role: "phone"; connectedAt: number };
export type Role = SocketAttachment["role"];

/** Each awake socket's attachment as last written or read: a busy socket's is not deserialized on every message. */
const attachments = new WeakMap<WebSocket, SocketAttachment | null>();

/**
 * Counts changes to which sockets are open and verified (a socket accepted,
 * closed, or its attachment written): the lists `Sockets` keeps are rebuilt
 * when it moved, so a relay frame does not ask the runtime for them each time.
 * One counter for every object in the isolate: another object's change only
 * costs a rebuild.
 */
let socketChanges = 0;

/** Writes a socket's attachment; every write goes through here, so what `attachmentOf` keeps is never stale. */
export function attach(ws: WebSocket, attachment: SocketAttachment): void {
  ws.serializeAttachment(attachment);
  attachments.set(ws, attachment);
  socketChanges += 1;
}

/** A socket's attachment; a socket without a valid one (never ours) is treated as gone. */
export function attachmentOf(ws: WebSocket): SocketAttachment | null {
  let attachment = attachments.get(ws);
  if (attachment === undefined) {
    attachment = readAttachment(ws);
    attachments.set(ws, attachment);
  }
  return attachment;
}

function readAttachment(ws: WebSocket): SocketAttachment | null {
  const value = ws.deserializeAttachment() as Partial<SocketAttachment> | null;
  if (!value || typeof value.connectedAt !== "number") return null;
  if (value.role === "phone") return { role: "phone", connectedAt: value.connectedAt };
  if (value.role === "browser" && typeof value.verified === "boolean") {
    return { role: "browser", verified: value.verified, connectedAt: value.connectedAt, ...(typeof value.nonce === "string" ? { nonce: value.nonce } : {}) };
  }
  return null;
}

/** Close codes a peer may send that cannot be sent back (reserved, or saying no code was given). */
const UNSENDABLE = new Set([1005, 1006, 1015]);

export class Sockets {
  /** Open sockets by role, and the verified browsers among them, as they were at change `at`. */
  private listed = { at: -1, phone: [] as WebSocket[], browser: [] as WebSocket[], verifiedBrowsers: [] as WebSocket[] };

  constructor(private readonly ctx: DurableObjectState) {}

  accept(attachment: SocketAttachment, subprotocol?: string): { socket: WebSocket; response: Response } {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [attachment.role]);
    attach(server, attachment);
    return { socket: server, response: upgraded(client, subprotocol) };
  }

  /** The lists, read from the runtime again if a socket was accepted, closed or changed since. */
  private current() {
    if (this.listed.at !== socketChanges) {
      const open = (role: Role) => this.ctx.getWebSockets(role).filter((ws) => ws.readyState === WebSocket.OPEN);
      const browser = open("browser");
      this.listed = {
        at: socketChanges,
        phone: open("phone"),
        browser,
        verifiedBrowsers: browser.filter((ws) => {
          const attachment = attachmentOf(ws);
          return attachment?.role === "browser" && attachment.verified;
        }),
      };
    }
    return this.listed;
  }

  /** Closes the oldest browser sockets still waiting on their challenge until at most `keep` are left. */
  closeOldestUnverified(keep: number, code: number, reason: string): void {
    const waiting = this.of("browser")
      .map((ws) => ({ ws, attachment: attachmentOf(ws) }))
      .filter(({ attachment }) => attachment?.role === "browser" && !attachment.verified)
      .sort((a, b) => a.attachment!.connectedAt - b.attachment!.connectedAt);
    for (const { ws } of waiting.slice(0, Math.max(0, waiting.length - keep))) close(ws, code, reason);
  }

  /** Open sockets of a role (a list to read, not to change). */
  of(role: Role): readonly WebSocket[] {
    return this.current()[role];
  }

  /** Browser sockets that opened the session or answered their challenge (a list to read, not to change). */
  verifiedBrowsers(): readonly WebSocket[] {
    return this.current().verifiedBrowsers;
  }

  /** Phone and verified browsers: the sockets told about the session. */
  announceTo(role: Role, message: ServerMessage): void {
    for (const ws of role === "phone" ? this.of("phone") : this.verifiedBrowsers()) send(ws, message);
  }

  /** Every socket, verified or not (a token, the end). */
  broadcast(message: ServerMessage): void {
    for (const ws of this.ctx.getWebSockets()) send(ws, message);
  }

  /**
   * The session ended: its own sockets (the phone, a browser that opened it
   * or proved its device key) are told why and closed with the reason's code;
   * a resume still waiting on its challenge learns nothing but 4404.
   */
  endAll(ended: ServerMessage, code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = attachmentOf(ws);
      if (attachment?.role === "browser" && !attachment.verified) {
        close(ws, CLOSE_CODES.unknown_session, "no linked session to resume");
        continue;
      }
      send(ws, ended);
      close(ws, code, reason);
    }
  }


  /** Each open socket with what the alarm needs to know of it; `lastMessageAt` is the in-memory record of its messages. */
  watched(lastMessageAt: (ws: WebSocket) => number): { ws: WebSocket; watch: WatchedSocket }[] {
    const watched: { ws: WebSocket; watch: WatchedSocket }[] = [];
    for (const ws of [...this.of("phone"), ...this.of("browser")]) {
      const attachment = attachmentOf(ws);
      if (!attachment) continue;
      const lastPing = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      const watch: WatchedSocket = {
        role: attachment.role,
        verified: attachment.role === "phone" || attachment.verified,
        connectedAt: attachment.connectedAt,
        lastSeenAt: Math.max(lastPing, lastMessageAt(ws), attachment.connectedAt),
      };
      watched.push({ ws, watch });
    }
    return watched;
  }
}

export function send(ws: WebSocket, message: ServerMessage): void {
  transmit(ws, JSON.stringify(message));
}

/**
 * Forwards a relay frame: its JSON put together directly, which is exactly
 * what `send` would write, since the seq is an integer and the data base64url
 * (nothing to escape), without scanning a frame's kilobytes for escapes. The
 * message the frame came in is sent as it came when it is already that text
 * (nothing to copy): it is when it has the same beginning and the same length,
 * since an escape, a space or another key would make it longer.
 */
export function sendFrame(ws: WebSocket, frame: { seq: number; data: string }, received?: string): void {
  const head = `{"type":"frame","seq":${frame.seq},"data":"`;
  const exact = received !== undefined && received.length === head.length + frame.data.length + 2 && received.startsWith(head);
  transmit(ws, exact ? received : `${head}${frame.data}"}`);
}

function transmit(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // A socket closing under us; the close handler does the bookkeeping.
  }
}

/** Closes a socket, if it is not closed already. */
export function close(ws: WebSocket, code: number, reason: string): void {
  socketChanges += 1;
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}

/** Answers a close the client started, so its side completes at once instead of waiting out a timeout. */
export function answerClose(ws: WebSocket, code: number, reason: string): void {
  close(ws, UNSENDABLE.has(code) ? 1000 : code, reason);
}

/** A handler failed: logged, and the socket closed with a code the client understands. */
export function closeOnError(ws: WebSocket, error: unknown): void {
  console.error("socket handler failed", error);
  close(ws, CLOSE_CODES.internal_error, "internal error");
}

function upgraded(client: WebSocket, subprotocol?: string): Response {
  const headers = subprotocol ? { "sec-websocket-protocol": subprotocol } : undefined;
  return new Response(null, { status: 101, webSocket: client, headers });
}
