// What a simulated phone keeps, and the PhoneStore operations on it; the CLI
// keeps it in a file, the phone page in IndexedDB.
import type { ChatMessage } from "../../shared/protocol";
import { currentHistory, type ChatLog, type ChatWithHistory } from "./history";
import type { LinkRecord, PhoneStore } from "./phone-link";

export interface PhoneState extends ChatLog {
  links: Record<string, LinkRecord>;
}

export abstract class StoredPhone implements PhoneStore {
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
