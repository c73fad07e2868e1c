// One linked browser as the phone serves it: the relay socket (signed,
// reconnecting, with heartbeats) and the encrypted channel on it. What the
// messages mean is PhoneChats', which serves every linked browser.
import { deriveLinkKeys } from "../../shared/crypto";
import { CLOSE_CODES, HEARTBEAT, parseAppMessage, serverMessageSchema, type AppMessage } from "../../shared/protocol";
import { RelayChannel } from "../../shared/relay-channel";
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

export type LinkEvent = { kind: "online" } | { kind: "offline"; retryInMs: number } | { kind: "ended"; reason: string };

/** Handles what the browser says; it must not wait for sends on the same link (see RelayChannel). */
export type AppMessageHandler = (link: PhoneLink, message: AppMessage) => Promise<void>;

/** Close codes after which the link is gone for good; any other (1011 internal_error included) reconnects. */
const FINAL_CLOSES = new Set<number>([CLOSE_CODES.unknown_session, CLOSE_CODES.logged_out, CLOSE_CODES.key_mismatch]);
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

  static async create(
    phone: Phone,
    record: LinkRecord,
    store: PhoneStore,
    openSocket: OpenSocket,
    onEvent: (event: LinkEvent) => void,
    onAppMessage: AppMessageHandler,
  ): Promise<PhoneLink> {
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
        // A frame that is no app message of this version is dropped.
        message: (plaintext) => {
          const message = parseAppMessage(plaintext);
          return link && message ? onAppMessage(link, message) : undefined;
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

  /** The last version of the change log sealed for this browser; undefined until it had a snapshot. */
  get pushedVersion(): number | undefined {
    return this.record.pushedVersion;
  }

  /** Frames sealed for this browser that it has not acknowledged: a browser that is away stops reading. */
  get undelivered(): number {
    return this.channel.undelivered;
  }

  /** The browser is known to hold the log up to `version` without a frame from here. */
  markPushed(version: number): Promise<void> {
    this.record.pushedVersion = version;
    return this.store.saveLink(this.record);
  }

  /** Seals a message for the browser; `pushedVersion`, when given, is saved with the frame that carries it. */
  async post(message: AppMessage, pushedVersion?: number): Promise<void> {
    if (pushedVersion !== undefined) this.record.pushedVersion = pushedVersion;
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
}
