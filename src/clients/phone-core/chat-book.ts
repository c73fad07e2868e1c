// The phone's chats as data: the generated history, what happened since, and
// the change log that tells linked browsers about it. Pure functions over a
// plain object, so each store keeps it as it likes and tests need no runtime.
import type { Change, ChatMessage, MessageStatus } from "../../shared/protocol";
import { generateHistory, type ChatWithHistory } from "./history";

export interface ChatBook {
  number: string;
  createdAt: number;
  /** The version of the last change; 0 before any. */
  version: number;
  /** Messages since the history was generated, in order; a message of "me" carries its ticks. */
  added: ChatMessage[];
  /** Unread counts that differ from the generated history's. */
  unread: Record<string, number>;
  /** The latest changes, oldest first, for browsers that come back; at most MAX_KEPT_CHANGES. */
  changes: Change[];
}

/**
 * How many changes the phone keeps for browsers that were away. One that is
 * further behind gets a snapshot instead, which costs about as much as
 * replaying this many.
 */
export const MAX_KEPT_CHANGES = 2_000;

const STATUS_ORDER: Record<MessageStatus, number> = { sent: 1, delivered: 2, read: 3 };

/** What happened, before the book numbers it and works out its effect (a message's unread count). */
export type ChangeRequest =
  | { type: "message"; message: ChatMessage }
  | { type: "read"; chatId: string }
  | { type: "status"; chatId: string; messageId: string; status: MessageStatus };

export function newBook(number: string, createdAt: number): ChatBook {
  return { number, createdAt, version: 0, added: [], unread: {}, changes: [] };
}

/** A book as stored by an older version of the phone (`read` chat ids, no log) gets its missing parts. */
export function upgradeBook(stored: Partial<ChatBook> & { number: string; createdAt: number; read?: string[] }): ChatBook {
  const unread = stored.unread ?? Object.fromEntries((stored.read ?? []).map((chatId) => [chatId, 0]));
  return { number: stored.number, createdAt: stored.createdAt, version: stored.version ?? 0, added: stored.added ?? [], unread, changes: stored.changes ?? [] };
}

/** Every chat as it stands, most recent history last within each chat. */
export function chatsOf(book: ChatBook): ChatWithHistory[] {
  return generateHistory(book.number, book.createdAt).map(({ chat, messages, unread }) => ({
    chat,
    messages: [...messages, ...book.added.filter((message) => message.chatId === chat.id)],
    unread: book.unread[chat.id] ?? unread,
  }));
}

/**
 * Applies a change to the book and logs it under the next version; null when
 * it changes nothing (a message already there, a chat already read, ticks
 * that would go back), so a repeated request is not logged twice.
 */
export function record(book: ChatBook, body: ChangeRequest): Change | null {
  const chat = chatsOf(book).find((entry) => entry.chat.id === chatIdOf(body));
  if (!chat) return null;
  let change: Change;
  switch (body.type) {
    case "message": {
      if (chat.messages.some((message) => message.id === body.message.id)) return null;
      const { status: _claimed, ...text } = body.message;
      const mine = text.from === "me";
      // Ticks are the phone's to set: a message of "me" starts as sent, a contact's has none.
      const message: ChatMessage = mine ? { ...text, status: "sent" } : text;
      // Writing in a chat reads it, as on any phone.
      const unread = mine ? 0 : chat.unread + 1;
      book.added.push(message);
      book.unread[chat.chat.id] = unread;
      change = { version: book.version + 1, type: "message", message, unread };
      break;
    }
    case "read":
      if (chat.unread === 0) return null;
      book.unread[chat.chat.id] = 0;
      change = { version: book.version + 1, ...body };
      break;
    case "status": {
      const message = book.added.find((entry) => entry.id === body.messageId && entry.chatId === body.chatId);
      if (!message || message.from !== "me" || STATUS_ORDER[body.status] <= STATUS_ORDER[message.status ?? "sent"]) return null;
      message.status = body.status;
      change = { version: book.version + 1, ...body };
      break;
    }
  }
  book.version = change.version;
  book.changes.push(change);
  if (book.changes.length > MAX_KEPT_CHANGES) book.changes.splice(0, book.changes.length - MAX_KEPT_CHANGES);
  return change;
}

function chatIdOf(body: ChangeRequest): string {
  return body.type === "message" ? body.message.chatId : body.chatId;
}

/**
 * The changes after `since`, oldest first; null when the book no longer
 * holds them all (the browser is further behind than the log reaches) or
 * `since` is ahead of the book (the phone's state is older than the
 * browser's): then the browser needs a snapshot.
 */
export function changesSince(book: ChatBook, since: number): Change[] | null {
  if (since > book.version) return null;
  if (since === book.version) return [];
  const oldest = book.changes[0]?.version;
  if (oldest === undefined || oldest > since + 1) return null;
  return book.changes.filter((change) => change.version > since);
}
