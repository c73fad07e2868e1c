// One linked browser as the phone serves it: the relay connection (signed
// afresh for every attempt; reconnecting, heartbeats and close codes are the
// Connection's), the sync of the chat history, the messages the browser sends
// out through the phone, and the contacts' replies.
import { deriveLinkKeys } from "../../shared/crypto";
import { appMessageSchema, type AppMessage, type ChatMessage, type ServerMessage } from "../../shared/protocol";
import { RelayChannel } from "../../shared/relay-channel";
import type { Ending } from "../connection/close-codes";
import { Connection, type WebSocketClass } from "../connection/connection";
import { replyTo } from "./history";
import type { Phone } from "./phone";
import type { LinkRecord, PhoneStore } from "./phone-store";

export type LinkEvent =
  | { kind: "online" }
  | { kind: "offline"; retryInMs: number }
  /** Another phone (this profile elsewhere) took the link over: this one stops, and the link stays. */
  | { kind: "taken_over"; notice: string }
  | { kind: "synced"; chats: number }
  | { kind: "sent"; message: ChatMessage; chat: string }
  | { kind: "replied"; message: ChatMessage; chat: string }
  | { kind: "ended"; reason: string };

const REPLY_DELAY_MS = 600;

export class PhoneLink {
  private connection: Connection | null = null;

  private constructor(
    private readonly phone: Phone,
    private readonly record: LinkRecord,
    private readonly store: PhoneStore,
    private readonly webSocket: WebSocketClass,
    private readonly onEvent: (event: LinkEvent) => void,
    private readonly channel: RelayChannel,
  ) {}

  /** `webSocket`: the page's WebSocket, or `ws` in Node; both sign with subprotocols. */
  static async create(phone: Phone, record: LinkRecord, store: PhoneStore, webSocket: WebSocketClass, onEvent: (event: LinkEvent) => void): Promise<PhoneLink> {
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
      { message: (plaintext) => link?.onAppMessage(plaintext) },
    );
    link = new PhoneLink(phone, record, store, webSocket, onEvent, channel);
    return link;
  }

  get sessionId(): string {
    return this.record.sessionId;
  }

  start(): void {
    const connection = new Connection(
      { role: "phone", target: () => this.phone.relaySocket(this.record), WebSocket: this.webSocket },
      {
        open: () => this.channel.attach((message) => void connection.send(message)),
        message: (message) => this.onServerMessage(message),
        closed: () => this.channel.detach(),
        reconnecting: (delayMs) => this.onEvent({ kind: "offline", retryInMs: delayMs }),
        ended: (ending) => void this.onEnded(ending),
      },
    );
    this.connection = connection;
  }

  stop(): void {
    this.channel.detach();
    this.connection?.close("phone going offline");
  }

  /** Sends a message as the phone's own (typed on the phone) to the linked browser. */
  async post(message: AppMessage): Promise<void> {
    await this.channel.send(JSON.stringify(message));
  }

  private async onServerMessage(message: ServerMessage): Promise<void> {
    if (message.type === "ready") this.onEvent({ kind: "online" });
    await this.channel.handle(message);
  }

  /** The link is over (the phone forgets it), or another phone took it (it stays). */
  private async onEnded({ reason, notice }: Ending): Promise<void> {
    this.channel.detach();
    if (reason === "replaced") return this.onEvent({ kind: "taken_over", notice });
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
