// The chat screen's model, free of the DOM: the phone's chats and messages as
// they arrive, plus the messages typed here and how far each has got.
import type { AppMessage, Chat, ChatMessage } from "../../shared/protocol";

/** A message typed here: waiting (clock), held by the server (one tick), on the phone (two ticks). */
export type Delivery = "pending" | "sent" | "delivered";

export interface ViewMessage extends ChatMessage {
  status: Delivery;
}

export interface ChatView {
  chat: Chat;
  messages: ViewMessage[];
  unread: number;
}

export interface Profile {
  name: string;
  number: string;
  about: string;
}

export class ChatState {
  profile: Profile | null = null;
  synced = false;
  selected: string | null = null;
  private readonly chats = new Map<string, ChatView>();

  /** Applies what the phone says; the same message twice changes nothing. */
  applyFromPhone(message: AppMessage): void {
    switch (message.kind) {
      case "profile":
        this.profile = { name: message.name, number: message.number, about: message.about };
        break;
      case "chat": {
        const existing = this.chats.get(message.chat.id);
        const fromPhone = new Set(message.messages.map((entry) => entry.id));
        // Messages this list lacks stay, after the phone's: typed here and not yet on the phone, or
        // reaching the phone after it took this snapshot of its history.
        const local = existing?.messages.filter((entry) => !fromPhone.has(entry.id)) ?? [];
        this.chats.set(message.chat.id, {
          chat: message.chat,
          messages: [...message.messages.map((entry) => ({ ...entry, status: "delivered" as const })), ...local],
          unread: message.chat.id === this.selected ? 0 : message.unread,
        });
        break;
      }
      case "synced":
        this.synced = true;
        break;
      case "message": {
        const view = this.chats.get(message.message.chatId);
        if (!view || view.messages.some((entry) => entry.id === message.message.id)) return;
        view.messages.push({ ...message.message, status: "delivered" });
        if (message.message.from !== "me" && view.chat.id !== this.selected) view.unread += 1;
        break;
      }
    }
  }

  /** A message typed here, shown at once with its delivery state. */
  addLocal(message: ChatMessage, status: Delivery): void {
    const view = this.chats.get(message.chatId);
    if (!view) return;
    const existing = view.messages.find((entry) => entry.id === message.id);
    if (existing) existing.status = status;
    else view.messages.push({ ...message, status });
  }

  setStatus(messageId: string, status: Delivery): void {
    for (const view of this.chats.values()) {
      const message = view.messages.find((entry) => entry.id === messageId);
      if (message) message.status = status;
    }
  }

  /** Opens a chat; returns true when it had unread messages (the phone is told they are read). */
  select(chatId: string): boolean {
    this.selected = chatId;
    const view = this.chats.get(chatId);
    const hadUnread = (view?.unread ?? 0) > 0;
    if (view) view.unread = 0;
    return hadUnread;
  }

  /** Shows the chats kept from before a reload until the phone sends its own (which win). */
  restore(views: ChatView[]): void {
    for (const view of views) if (!this.chats.has(view.chat.id)) this.chats.set(view.chat.id, view);
  }

  chat(chatId: string): ChatView | undefined {
    return this.chats.get(chatId);
  }

  /** Most recent conversation first. */
  list(): ChatView[] {
    const last = (view: ChatView) => view.messages.at(-1)?.at ?? 0;
    return [...this.chats.values()].sort((a, b) => last(b) - last(a));
  }
}
