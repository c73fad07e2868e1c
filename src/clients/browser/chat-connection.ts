// The linked browser's relay socket: opens it (or takes over the one that
// just linked), answers the resume challenge with the device key, keeps it
// alive with heartbeats, and reconnects with backoff until the link ends.
// What travels on it is the RelayChannel's; what it means is the ChatScreen's.
import { signResume } from "../../shared/crypto";
import { CLOSE_CODES, HEARTBEAT, serverMessageSchema, type Presence, type ServerMessage } from "../../shared/protocol";
import type { RelayChannel } from "../../shared/relay-channel";
import type { StoredLink } from "./link-store";

const MAX_RETRY_MS = 10_000;
/** How often to ask after the phone when the server does not say (it says in `ready`). */
const DEFAULT_PRESENCE_CHECK_MS = 15_000;
/** Closes after which this browser's link is gone: it forgets its keys and shows a fresh code. */
const ENDINGS: Record<number, string> = {
  [CLOSE_CODES.unknown_session]: "This browser is no longer linked.",
  [CLOSE_CODES.resume_refused]: "This browser could not prove its link, so it was logged out.",
  [CLOSE_CODES.logged_out]: "You logged out.",
  [CLOSE_CODES.revoked]: "This browser was logged out from your phone.",
  [CLOSE_CODES.inactive]: "Logged out after a long time without use.",
};

export interface ConnectionEvents {
  /** The relay is open again; `phone` says whether the phone is connected. */
  ready(phone: Presence): void;
  presence(phone: Presence): void;
  /** The link is over (an `ended` message or a close in ENDINGS); the notice says why. */
  ended(notice: string): Promise<void>;
  /** What to show while the socket is down. */
  status(text: string): void;
}

export class ChatConnection {
  private socket: WebSocket | null = null;
  private retryMs = 500;
  /** Set once the link ended here, so the socket's close is not a reason to reconnect. */
  private closed = false;
  private presenceTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly link: StoredLink,
    private readonly channel: RelayChannel,
    private readonly events: ConnectionEvents,
  ) {
    document.addEventListener("visibilitychange", this.askPresence);
  }

  /**
   * While the page is visible, asks now and then whether the phone is still
   * there: the server looks only when asked, so a link nobody watches costs nothing.
   */
  private checkPresenceEvery(everyMs: number): void {
    clearInterval(this.presenceTimer);
    this.presenceTimer = setInterval(this.askPresence, everyMs);
  }

  private readonly askPresence = (): void => {
    if (this.socket?.readyState === WebSocket.OPEN && document.visibilityState === "visible") this.socket.send(JSON.stringify({ type: "presence_check" }));
  };

  /** Takes over the socket that just linked, or resumes over a new one. */
  start(socket?: WebSocket): void {
    if (socket) this.use(socket);
    else this.connect();
  }

  /** Asks the server to end the link; its `ended` follows. */
  logout(): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: "logout" }));
  }

  close(): void {
    this.closed = true;
    clearInterval(this.presenceTimer);
    document.removeEventListener("visibilitychange", this.askPresence);
    this.socket?.close(1000, "ended");
  }

  private connect(): void {
    // At the link id from `linked`; a link made before link ids existed still resumes at its session id.
    const path = this.link.linkId ? `/api/links/${this.link.linkId}/browser` : `/api/sessions/${this.link.sessionId}/browser`;
    const url = new URL(path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.use(new WebSocket(url));
  }

  private use(socket: WebSocket): void {
    this.socket = socket;
    this.channel.attach((message) => socket.send(JSON.stringify(message)));
    // The server closes a browser socket that stays silent; the runtime answers these without waking it.
    const heartbeat = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send(HEARTBEAT.request), HEARTBEAT.intervalMs);

    socket.addEventListener("message", (event) => {
      if (event.data === HEARTBEAT.response) return;
      const parsed = serverMessageSchema.safeParse(JSON.parse(String(event.data)));
      if (parsed.success) void this.onServerMessage(parsed.data);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(heartbeat);
      clearInterval(this.presenceTimer);
      this.onClose(event.code);
    });
  }

  private async onServerMessage(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case "challenge":
        this.socket?.send(JSON.stringify({ type: "resume", signature: await signResume(this.link.deviceKey, this.link.sessionId, message.nonce) }));
        return;
      case "ready":
        this.retryMs = 500;
        this.checkPresenceEvery(message.presenceCheckMs ?? DEFAULT_PRESENCE_CHECK_MS);
        await this.channel.handle(message);
        if (this.closed) return; // The channel refused the server's `ready`, and the screen closed this.
        return this.events.ready(message.phone);
      case "presence":
        return this.events.presence(message.phone);
      case "ended":
        return this.events.ended(ENDINGS[CLOSE_CODES[message.reason]] ?? "This link has ended.");
      default:
        return this.channel.handle(message);
    }
  }

  /** Any close but an ending or a takeover reconnects, 1011 (internal_error) included. */
  private onClose(code: number): void {
    this.channel.detach();
    if (this.closed) return;
    const ending = ENDINGS[code];
    if (ending) return void this.events.ended(ending);
    if (code === CLOSE_CODES.replaced) return this.events.status("QR Link is open in another window. Reload to use it here.");
    this.events.status("Connecting…");
    setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }
}
