// The phone's chats as data: the generated history, what happened since, and
// the change log that tells linked browsers about it. Functions over a plain
// object, so each store keeps it as it likes and tests need no runtime; an
// index per book (built once, kept up to date by `record`) keeps a phone with
// years of chats fast.
import type { Change, Chat, ChatMessage, ChatSummary, MessageStatus } from "../../shared/protocol";
import { generateHistory, type ChatWithHistory, type HistorySize } from "./history";

export interface ChatBook {
  number: string;
  createdAt: number;
  /** How much history the phone was set up with; small when absent (a book from before sizes). */
  history?: HistorySize;
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

export function newBook(number: string, createdAt: number, history: HistorySize = "small"): ChatBook {
  return { number, createdAt, history, version: 0, added: [], unread: {}, changes: [] };
}

/** A book as stored by an older version of the phone (`read` chat ids, no log) gets its missing parts. */
export function upgradeBook(stored: Partial<ChatBook> & { number: string; createdAt: number; read?: string[] }): ChatBook {
  const unread = stored.unread ?? Object.fromEntries((stored.read ?? []).map((chatId) => [chatId, 0]));
  return { number: stored.number, createdAt: stored.createdAt, history: stored.history ?? "small", version: stored.version ?? 0, added: stored.added ?? [], unread, changes: stored.changes ?? [] };
}

/** One chat of the book: the generated messages and those added since, oldest first. */
interface IndexedChat {
  chat: Chat;
  generated: readonly ChatMessage[];
  generatedUnread: number;
  added: ChatMessage[];
}

/** The generated history is the same for the same number, time and size: made once per process. */
const generatedHistories = new Map<string, ChatWithHistory[]>();
const indexes = new WeakMap<ChatBook, Map<string, IndexedChat>>();

function indexOf(book: ChatBook): Map<string, IndexedChat> {
  let index = indexes.get(book);
  if (index) return index;
  const key = `${book.number} ${book.createdAt} ${book.history ?? "small"}`;
  let generated = generatedHistories.get(key);
  if (!generated) generatedHistories.set(key, (generated = generateHistory(book.number, book.createdAt, book.history)));
  index = new Map(generated.map(({ chat, messages, unread }) => [chat.id, { chat, generated: messages, generatedUnread: unread, added: [] }]));
  for (const message of book.added) index.get(message.chatId)?.added.push(message);
  indexes.set(book, index);
  return index;
}

function messagesOf(entry: IndexedChat): ChatMessage[] {
  return entry.added.length === 0 ? [...entry.generated] : [...entry.generated, ...entry.added];
}

function unreadOf(book: ChatBook, entry: IndexedChat): number {
  return book.unread[entry.chat.id] ?? entry.generatedUnread;
}

/** Every chat as it stands, with all its messages, oldest first (a small phone's snapshot; tests). */
export function chatsOf(book: ChatBook): ChatWithHistory[] {
  return [...indexOf(book).values()].map((entry) => ({ chat: entry.chat, messages: messagesOf(entry), unread: unreadOf(book, entry) }));
}

export function chatOf(book: ChatBook, chatId: string): Chat | null {
  return indexOf(book).get(chatId)?.chat ?? null;
}

/** The chat list: each chat with its last message, unread count and size, most recent first. */
export function chatList(book: ChatBook): ChatSummary[] {
  const summaries = [...indexOf(book).values()].map((entry): ChatSummary => {
    const last = entry.added.at(-1) ?? entry.generated.at(-1);
    const count = entry.generated.length + entry.added.length;
    return { chat: entry.chat, unread: unreadOf(book, entry), count, ...(last ? { last } : {}) };
  });
  return summaries.sort((a, b) => (b.last?.at ?? 0) - (a.last?.at ?? 0));
}

/**
 * A page of a chat's messages, oldest first: the `limit` latest, or the
 * `limit` before the message `before`; `hasOlder` says whether more precede
 * them. Unknown chat or message: null.
 */
export function pageOf(book: ChatBook, chatId: string, limit: number, before?: string): { messages: ChatMessage[]; hasOlder: boolean } | null {
  const entry = indexOf(book).get(chatId);
  if (!entry) return null;
  const messages = messagesOf(entry);
  const end = before === undefined ? messages.length : messages.findIndex((message) => message.id === before);
  if (end < 0) return null;
  const start = Math.max(0, end - limit);
  return { messages: messages.slice(start, end), hasOlder: start > 0 };
}

/**
 * Applies a change to the book and logs it under the next version; null when
 * it changes nothing (a message already there, a chat already read, ticks
 * that would go back), so a repeated request is not logged twice.
 */
export function record(book: ChatBook, body: ChangeRequest): Change | null {
  const entry = indexOf(book).get(chatIdOf(body));
  if (!entry) return null;
  const chatId = entry.chat.id;
  const unreadNow = unreadOf(book, entry);
  let change: Change;
  switch (body.type) {
    case "message": {
      if (entry.added.some((message) => message.id === body.message.id) || entry.generated.some((message) => message.id === body.message.id)) return null;
      const { status: _claimed, ...text } = body.message;
      const mine = text.from === "me";
      // Ticks are the phone's to set: a message of "me" starts as sent, a contact's has none.
      const message: ChatMessage = mine ? { ...text, status: "sent" } : text;
      // Writing in a chat reads it, as on any phone.
      const unread = mine ? 0 : unreadNow + 1;
      book.added.push(message);
      entry.added.push(message);
      book.unread[chatId] = unread;
      change = { version: book.version + 1, type: "message", message, unread };
      break;
    }
    case "read":
      if (unreadNow === 0) return null;
      book.unread[chatId] = 0;
      change = { version: book.version + 1, ...body };
      break;
    case "status": {
      const message = entry.added.find((added) => added.id === body.messageId);
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
