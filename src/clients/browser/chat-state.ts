// The chat screen's model, free of the DOM: the phone's chats as its snapshot
// and change log describe them, at the version applied last, plus messages
// typed here that have not reached the phone yet. The browser's chat screen
// and the phone page's both draw from it.
import type { AppMessage, Change, Chat, ChatMessage, MessageStatus } from "../../shared/protocol";

/** A message typed here that the phone has not logged yet (clock), then the phone's ticks. */
export type Delivery = "pending" | MessageStatus;

export interface ViewMessage extends Omit<ChatMessage, "status"> {
  /** Only on messages of "me". */
  status?: Delivery;
}

export interface ChatView {
  chat: Chat;
  /** The messages this device has of the chat: the latest, and older ones as far as it scrolled back. */
  messages: ViewMessage[];
  unread: number;
  /** The phone has messages older than the first here (asked for with history_request). */
  hasOlder?: boolean;
}

export interface Profile {
  name: string;
  number: string;
  about: string;
}

/** What a browser keeps between visits: the chats at `version`. */
export interface SavedChats {
  version: number;
  profile: Profile | null;
  chats: ChatView[];
}

/** How long "typing…" shows without a new word from the phone. */
export const TYPING_SHOWN_MS = 4_000;

export class ChatState {
  profile: Profile | null = null;
  /** The last version of the phone's change log applied here; 0 before the first snapshot. */
  version = 0;
  selected: string | null = null;
  private readonly chats = new Map<string, ChatView>();
  /** Who is typing where, until when. */
  private readonly typists = new Map<string, { from: string; until: number }>();
  /** Chats changed since `takeChanged`, to be saved. */
  private readonly changed = new Set<string>();

  /** A snapshot has been applied (now or before a reload). */
  get synced(): boolean {
    return this.version > 0 || this.chats.size > 0;
  }

  /**
   * Applies what the phone says. Changes at or below `version` were applied
   * already and are skipped; returns "gap" when a change skips a version
   * (the phone is asked for what is missing; nothing after the gap is applied).
   */
  applyFromPhone(message: AppMessage, now = Date.now()): "gap" | undefined {
    switch (message.kind) {
      case "profile":
        this.profile = { name: message.name, number: message.number, about: message.about };
        return;
      case "chats":
        for (const { chat, last, unread, count } of message.chats) this.replaceChat(chat, last ? [last] : [], unread, count > (last ? 1 : 0));
        return;
      case "chat":
        this.replaceChat(message.chat, message.messages, message.unread, message.hasOlder ?? false);
        return;
      case "history": {
        // Only an answer to what was asked (the oldest message here then) is put before it.
        const view = this.chats.get(message.chatId);
        if (!view || message.before !== this.oldestLogged(message.chatId)) return;
        const here = new Set(view.messages.map((entry) => entry.id));
        view.messages = [...message.messages.filter((entry) => !here.has(entry.id)), ...view.messages];
        view.hasOlder = message.hasOlder;
        this.changed.add(message.chatId);
        return;
      }
      case "synced":
        this.version = message.version;
        return;
      case "changes":
        for (const change of message.changes) {
          if (change.version <= this.version) continue;
          if (change.version !== this.version + 1) return "gap";
          this.applyChange(change);
          this.version = change.version;
        }
        return;
      case "typing":
        this.typists.set(message.chatId, { from: message.from, until: now + TYPING_SHOWN_MS });
        return;
    }
  }

  /** A chat as a snapshot has it; messages typed here that the phone has not logged yet stay, after the phone's. */
  private replaceChat(chat: Chat, messages: ChatMessage[], unread: number, hasOlder: boolean): void {
    const logged = new Set(messages.map((entry) => entry.id));
    const waiting = this.chats.get(chat.id)?.messages.filter((entry) => entry.status === "pending" && !logged.has(entry.id)) ?? [];
    this.chats.set(chat.id, { chat, messages: [...messages, ...waiting], unread, hasOlder });
    this.changed.add(chat.id);
  }

  /** The id of the oldest message here that the phone logged (what a history_request asks before); undefined when none. */
  oldestLogged(chatId: string): string | undefined {
    return this.chats.get(chatId)?.messages.find((entry) => entry.status !== "pending")?.id;
  }

  private applyChange(change: Change): void {
    const chatId = change.type === "message" ? change.message.chatId : change.chatId;
    const view = this.chats.get(chatId);
    if (!view) return;
    this.changed.add(chatId);
    switch (change.type) {
      case "message": {
        const index = view.messages.findIndex((entry) => entry.id === change.message.id);
        if (index >= 0) view.messages[index] = change.message;
        else view.messages.push(change.message);
        view.unread = change.unread;
        if (this.typists.get(chatId)?.from === change.message.from) this.typists.delete(chatId);
        return;
      }
      case "read":
        view.unread = 0;
        return;
      case "status": {
        const message = view.messages.find((entry) => entry.id === change.messageId);
        if (message) message.status = change.status;
        return;
      }
    }
  }

  /** A message typed here, shown at once with a clock until the phone logs it. */
  addPending(message: ChatMessage): void {
    const view = this.chats.get(message.chatId);
    if (!view || view.messages.some((entry) => entry.id === message.id)) return;
    view.messages.push({ ...message, status: "pending" });
    this.changed.add(message.chatId);
  }

  /** Opens a chat; true when it had unread messages, which the phone is then told are read. */
  select(chatId: string): boolean {
    this.selected = chatId;
    return this.readSelected();
  }

  /** The open chat's messages are read here; true when some were unread (the phone is told). */
  readSelected(): boolean {
    const view = this.selected ? this.chats.get(this.selected) : undefined;
    if (!view || view.unread === 0) return false;
    view.unread = 0;
    this.changed.add(view.chat.id);
    return true;
  }

  /** Who is typing in a chat now, if anyone. */
  typing(chatId: string, now = Date.now()): string | null {
    const typist = this.typists.get(chatId);
    return typist && typist.until > now ? typist.from : null;
  }

  /** Shows what was kept from a visit before, until the phone says more. */
  restore(saved: SavedChats): void {
    this.version = saved.version;
    this.profile = saved.profile;
    for (const view of saved.chats) this.chats.set(view.chat.id, view);
  }

  /** The chats changed since the last call, to be saved with `version`. */
  takeChanged(): ChatView[] {
    const views = [...this.changed].flatMap((chatId) => this.chats.get(chatId) ?? []);
    this.changed.clear();
    return views;
  }

  chat(chatId: string): ChatView | undefined {
    return this.chats.get(chatId);
  }

  /** Unread messages over all chats, for the title. */
  unreadTotal(): number {
    let total = 0;
    for (const view of this.chats.values()) total += view.unread;
    return total;
  }

  /** Most recent conversation first. */
  list(): ChatView[] {
    const last = (view: ChatView) => view.messages.at(-1)?.at ?? 0;
    return [...this.chats.values()].sort((a, b) => last(b) - last(a));
  }
}
