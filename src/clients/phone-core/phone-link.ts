// One linked browser as the phone serves it: the relay connection (signed
// afresh for every attempt; reconnecting, heartbeats and close codes are the
// Connection's) and the encrypted channel on it. What the messages mean is
// PhoneChats', which serves every linked browser.
import { deriveLinkKeys } from "../../shared/crypto";
import { parseAppMessage, type AppMessage, type ServerMessage } from "../../shared/protocol";
import { RelayChannel } from "../../shared/relay-channel";
import type { Ending } from "../connection/close-codes";
import { Connection, type WebSocketClass } from "../connection/connection";
import type { Phone } from "./phone";
import type { LinkRecord, PhoneStore } from "./phone-store";

export type LinkEvent =
  | { kind: "online" }
  | { kind: "offline"; retryInMs: number }
  /** Another phone (this profile elsewhere) took the link over: this one stops, and the link stays. */
  | { kind: "taken_over"; notice: string }
  | { kind: "ended"; reason: string }
  /** The server claimed frames this phone never sealed: the link stops using it until the phone starts again. */
  | { kind: "refused"; reason: string }
  /** The browser acknowledged frames: fewer are waiting for it. */
  | { kind: "delivered" }
  /** Handling a message from the browser failed; it is tried again. */
  | { kind: "failed"; error: string };

/** Handles what the browser says; it must not wait for sends on the same link (see RelayChannel). */
export type AppMessageHandler = (link: PhoneLink, message: AppMessage) => Promise<void>;

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
  static async create(
    phone: Phone,
    record: LinkRecord,
    store: PhoneStore,
    webSocket: WebSocketClass,
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
        refused: (reason) => {
          link?.stop();
          onEvent({ kind: "refused", reason });
        },
        // The browser read what was sent: room to push again.
        delivered: () => onEvent({ kind: "delivered" }),
        failed: (error) => onEvent({ kind: "failed", error: String(error) }),
      },
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

  /** Seals a message for the browser; `pushedVersion`, when given, is saved with the frame that carries it, never before. */
  async post(message: AppMessage, pushedVersion?: number): Promise<void> {
    await this.channel.send(JSON.stringify(message), () => {
      if (pushedVersion !== undefined) this.record.pushedVersion = pushedVersion;
    });
  }

  private async onServerMessage(message: ServerMessage): Promise<void> {
    await this.channel.handle(message);
    // After the channel took `ready` in: what it says was delivered decides what is pushed next.
    if (message.type === "ready") this.onEvent({ kind: "online" });
  }

  /** The link is over (the phone forgets it), or another phone took it (it stays). */
  private async onEnded({ reason, notice }: Ending): Promise<void> {
    this.channel.detach();
    if (reason === "replaced") return this.onEvent({ kind: "taken_over", notice });
    await this.store.removeLink(this.record.sessionId);
    this.onEvent({ kind: "ended", reason });
  }
}
