// One linked browser as the phone serves it: the relay socket (signed,
// reconnecting, with heartbeats), the sync of the chat history, the messages
// the browser sends out through the phone, and the contacts' replies.
import { deriveLinkKeys } from "../../shared/crypto";
import { appMessageSchema, CLOSE_CODES, HEARTBEAT, serverMessageSchema, type AppMessage, type ChatMessage } from "../../shared/protocol";
import { RelayChannel } from "../../shared/relay-channel";
import { replyTo } from "./history";
import type { Phone, RelaySocketRequest } from "./phone";
import type { LinkRecord, PhoneStore } from "./phone-store";

/** The part of a WebSocket this needs; `ws` in Node, the page's own in a browser. */
export interface RelaySocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

/** Opens the signed relay socket: Node passes the headers, a page the subprotocols. */
export type OpenSocket = (request: RelaySocketRequest) => RelaySocket;

export type LinkEvent =
  | { kind: "online" }
  | { kind: "offline"; retryInMs: number }
  | { kind: "synced"; chats: number }
  | { kind: "sent"; message: ChatMessage; chat: string }
  | { kind: "replied"; message: ChatMessage; chat: string }
  | { kind: "ended"; reason: string }
  /** The server claimed frames this phone never sealed: the link stops using it until the phone starts again. */
  | { kind: "refused"; reason: string };

/** Close codes after which the link is gone for good; any other (1011 internal_error included) reconnects. */
const FINAL_CLOSES = new Set<number>([CLOSE_CODES.unknown_session, CLOSE_CODES.logged_out, CLOSE_CODES.key_mismatch]);
const REPLY_DELAY_MS = 600;
const MAX_RETRY_MS = 10_000;

export class PhoneLink {
  private socket: RelaySocket | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private retryMs = 500;
  private stopped = false;

  private constructor(
    private readonly phone: Phone,
    private readonly record: LinkRecord,
    private readonly store: PhoneStore,
    private readonly openSocket: OpenSocket,
    private readonly onEvent: (event: LinkEvent) => void,
    private readonly channel: RelayChannel,
  ) {}

  static async create(phone: Phone, record: LinkRecord, store: PhoneStore, openSocket: OpenSocket, onEvent: (event: LinkEvent) => void): Promise<PhoneLink> {
    const stored = record.agreementPrivateKey;
    const privateKey = stored instanceof CryptoKey ? stored : await crypto.subtle.importKey("jwk", stored, { name: "X25519" }, false, ["deriveBits"]);
    const keys = await deriveLinkKeys(privateKey, record.browserPublicKey, record.qrSecret, record.sessionId);
    if (!keys) throw new Error(`the keys of link ${record.sessionId} cannot be derived`);
    let link: PhoneLink | null = null;
    const channel = new RelayChannel(
      record.sessionId,
      "to_browser",
      { send: keys.phoneToBrowser, receive: keys.browserToPhone },
      record.channel,
      () => store.saveLink(record),
      {
        message: (plaintext) => link?.onAppMessage(plaintext),
        refused: (reason) => {
          link?.stop();
          onEvent({ kind: "refused", reason });
        },
      },
    );
    link = new PhoneLink(phone, record, store, openSocket, onEvent, channel);
    return link;
  }

  get sessionId(): string {
    return this.record.sessionId;
  }

  async start(): Promise<void> {
    this.stopped = false;
    const socket = this.openSocket(await this.phone.relaySocket(this.record));
    this.socket = socket;
    socket.onopen = () => {
      this.channel.attach((message) => socket.send(JSON.stringify(message)));
      this.heartbeat = setInterval(() => socket.send(HEARTBEAT.request), HEARTBEAT.intervalMs);
    };
    socket.onmessage = (event) => void this.onServerMessage(String(event.data));
    socket.onclose = (event) => void this.onClose(event.code);
  }

  stop(): void {
    this.stopped = true;
    this.socket?.close(1000, "phone going offline");
  }

  /** Sends a message as the phone's own (typed on the phone) to the linked browser. */
  async post(message: AppMessage): Promise<void> {
    await this.channel.send(JSON.stringify(message));
  }

  private async onServerMessage(data: string): Promise<void> {
    if (data === HEARTBEAT.response) return;
    const parsed = serverMessageSchema.safeParse(JSON.parse(data));
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.type === "ready") {
      this.retryMs = 500;
      this.onEvent({ kind: "online" });
    }
    if (message.type === "ended") return this.end(message.reason);
    await this.channel.handle(message);
  }

  private async onClose(code: number): Promise<void> {
    this.channel.detach();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.stopped) return;
    if (FINAL_CLOSES.has(code)) return this.end(code === CLOSE_CODES.unknown_session ? "unknown_session" : "closed");
    this.onEvent({ kind: "offline", retryInMs: this.retryMs });
    setTimeout(() => void (this.stopped || this.start()), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private async end(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.store.removeLink(this.record.sessionId);
    this.onEvent({ kind: "ended", reason });
  }

  /** What the browser asks of the phone. Replies are queued, not awaited (see RelayChannel). */
  private async onAppMessage(plaintext: string): Promise<void> {
    const parsed = appMessageSchema.safeParse(JSON.parse(plaintext));
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.kind === "sync_request") void this.sync();
    if (message.kind === "read") await this.store.markRead(message.chatId);
    if (message.kind === "send") await this.sendFromBrowser(message.message);
  }

  private async sync(): Promise<void> {
    const history = this.store.history();
    const { name, number } = this.phone.identity;
    await this.post({ kind: "profile", name, number, about: "Hey there! I am using QR Link." });
    for (const { chat, messages, unread } of history) await this.post({ kind: "chat", chat, messages, unread });
    await this.post({ kind: "synced", chats: history.length });
    this.onEvent({ kind: "synced", chats: history.length });
  }

  /** The phone sends the browser's message out; the contact answers a moment later. */
  private async sendFromBrowser(message: ChatMessage): Promise<void> {
    const chat = this.store.history().find((entry) => entry.chat.id === message.chatId)?.chat;
    if (!chat || !(await this.store.addMessage({ ...message, from: "me" }))) return;
    this.onEvent({ kind: "sent", message, chat: chat.title });
    setTimeout(async () => {
      const reply = replyTo(chat, message);
      if (!(await this.store.addMessage(reply))) return;
      await this.post({ kind: "message", message: reply });
      this.onEvent({ kind: "replied", message: reply, chat: chat.title });
    }, REPLY_DELAY_MS);
  }
}
