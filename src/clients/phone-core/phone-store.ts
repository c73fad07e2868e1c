// What a simulated phone keeps (its linked browsers and the chat messages
// added since its history was generated) and the operations PhoneLink uses on
// it. A subclass says where it lives: FilePhoneStore (the CLI) in a file,
// IndexedDbPhoneStore (the phone page) in IndexedDB.
import type { ChatMessage } from "../../shared/protocol";
import type { ChannelState } from "../../shared/relay-channel";
import { currentHistory, type ChatLog, type ChatWithHistory } from "./history";

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
}

export interface PhoneState extends ChatLog {
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

  history(): ChatWithHistory[] {
    return currentHistory(this.state);
  }

  /** Adds a message once; false when it was already there (a resent frame). */
  async addMessage(message: ChatMessage): Promise<boolean> {
    if (this.state.added.some((existing) => existing.id === message.id)) return false;
    this.state.added.push(message);
    await this.save();
    return true;
  }

  async markRead(chatId: string): Promise<void> {
    if (this.state.read.includes(chatId)) return;
    this.state.read.push(chatId);
    await this.save();
  }
}
