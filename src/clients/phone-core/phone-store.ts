// What a simulated phone keeps (its linked browsers and its chat book) and the
// operations the phone uses on it. A subclass says where it lives:
// FilePhoneStore (the CLI) in a file, IndexedDbPhoneStore (the phone page) in
// IndexedDB.
import type { Change, Chat, ChatMessage, ChatSummary, QrPayload } from "../../shared/protocol";
import { emptyChannelState, type ChannelState } from "../../shared/relay-channel";
import { changesSince, chatList, chatOf, chatsOf, pageOf, record, type ChangeRequest, type ChatBook } from "./chat-book";
import type { ChatWithHistory } from "./history";

/** What the phone keeps of each linked browser. */
export interface LinkRecord {
  sessionId: string;
  /**
   * The relay's address (`/api/links/:linkId/phone`), from the confirm's
   * answer. Absent from links made before link ids existed, which use the
   * session id.
   */
  linkId?: string;
  browserPublicKey: string;
  qrSecret: string;
  /** The phone's X25519 private key for this link, to derive the link keys again: a JWK on disk, a CryptoKey in IndexedDB. */
  agreementPrivateKey: JsonWebKey | CryptoKey;
  linkedAt: number;
  channel: ChannelState;
  /** The last version of the change log sealed for this browser (saved with the frame that carries it). */
  pushedVersion?: number;
}

/** A browser just linked from `qr`, with the agreement key as the store keeps it; nothing sent to it yet. */
export function newLinkRecord(qr: QrPayload, linkId: string, agreementPrivateKey: JsonWebKey | CryptoKey): LinkRecord {
  return { sessionId: qr.sessionId, linkId, browserPublicKey: qr.browserPublicKey, qrSecret: qr.qrSecret, agreementPrivateKey, linkedAt: Date.now(), channel: emptyChannelState() };
}

export interface PhoneState extends ChatBook {
  links: Record<string, LinkRecord>;
}

export abstract class PhoneStore {
  protected abstract readonly state: PhoneState;
  /** Persists `state`; called after every change. */
  protected abstract save(): Promise<void>;

  links(): LinkRecord[] {
    return Object.values(this.state.links);
  }

  saveLink(record: LinkRecord): Promise<void> {
    this.state.links[record.sessionId] = record;
    return this.save();
  }

  removeLink(sessionId: string): Promise<void> {
    delete this.state.links[sessionId];
    return this.save();
  }

  /** Every chat with all its messages: for a small phone, and tests. */
  history(): ChatWithHistory[] {
    return chatsOf(this.state);
  }

  /** The chats, most recent first, without their messages. */
  chatList(): ChatSummary[] {
    return chatList(this.state);
  }

  chat(chatId: string): Chat | null {
    return chatOf(this.state, chatId);
  }

  /** At most `limit` messages of a chat, before `before` or its latest (see pageOf). */
  page(chatId: string, limit: number, before?: string): { messages: ChatMessage[]; hasOlder: boolean } | null {
    return pageOf(this.state, chatId, limit, before);
  }

  get version(): number {
    return this.state.version;
  }

  /** Applies and logs a change, saved before it is returned to be announced; null when it changed nothing. */
  async record(body: ChangeRequest): Promise<Change | null> {
    const change = record(this.state, body);
    if (change) await this.save();
    return change;
  }

  changesSince(since: number): Change[] | null {
    return changesSince(this.state, since);
  }
}
