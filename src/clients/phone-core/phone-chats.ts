// The phone's chats across every linked browser: each change (a message from
// a contact, one sent from the phone or any browser, a chat read, a contact's
// receipt) is logged by the store under the next version, saved, and then
// pushed to every browser that is reading. A browser that was away asks for
// what it missed (sync_request) and gets only that, or a snapshot when it has
// nothing or is further behind than the log reaches. A snapshot is the chat
// list and the latest messages of the most recent chats; older messages come
// a page at a time when a browser scrolls back (history_request).
import { MAX_FRAME_PLAINTEXT_BYTES, type AppMessage, type AppMessageOf, type Attachment, type Change, type Chat, type ChatMessage } from "../../shared/protocol";
import type { ChangeRequest } from "./chat-book";
import { Contacts, type ContactsOptions } from "./contacts";
import type { Phone } from "./phone";
import type { WebSocketClass } from "../connection/connection";
import { PhoneLink, type LinkEvent } from "./phone-link";
import { PhoneMedia } from "./phone-media";
import type { LinkRecord, PhoneStore } from "./phone-store";

/**
 * Frames a browser may leave unread before the phone stops pushing to it:
 * one that is away gets the rest in one answer when it asks, instead of a
 * frame per change piling up on the server.
 */
export const PUSH_BACKLOG_FRAMES = 16;
/** Room left in a frame for the envelope around its list. */
const FRAME_MARGIN_BYTES = 512;
/** A snapshot carries the latest messages of this many of the most recent chats; the others come when opened. */
export const SNAPSHOT_RECENT_CHATS = 20;
/** How many of a chat's latest messages a snapshot carries. */
export const SNAPSHOT_CHAT_MESSAGES = 50;

export type ChatsEvent =
  | { kind: "change"; change: Change; chat: Chat }
  | { kind: "typing"; chatId: string; from: string }
  | { kind: "synced"; sessionId: string; chats: number }
  | { kind: "link"; sessionId: string; event: LinkEvent }
  /** Work for a browser failed (a save, a frame that would not fit): reported, and the phone goes on. */
  | { kind: "failed"; error: string }
  /** The phone fetched a browser's attachment (`ok`), or could not: it did not open, or its SHA-256 was not the message's. */
  | { kind: "media"; blobId: string; name: string; ok: boolean; size?: number; sha256?: string; error?: string };

export class PhoneChats {
  private readonly links = new Map<string, PhoneLink>();
  /** Per link, the pushes and syncs in order: a link's log positions are decided one at a time. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly contacts: Contacts;
  readonly media: PhoneMedia;

  constructor(
    private readonly phone: Phone,
    private readonly store: PhoneStore,
    private readonly onEvent: (event: ChatsEvent) => void,
    contacts: ContactsOptions = {},
  ) {
    this.media = new PhoneMedia(phone.blobClient());
    const photo = (seed: number) => this.media.contactPhoto(seed).catch(() => null);
    this.contacts = new Contacts(
      { record: (body) => this.apply(body), typing: (chatId, from) => this.typing(chatId, from), photo, failed: (error) => this.background(Promise.reject(error)) },
      contacts,
    );
  }

  /** Connects to a linked browser and serves it until it ends or `stop`. */
  async open(record: LinkRecord, webSocket: WebSocketClass): Promise<PhoneLink> {
    const link = await PhoneLink.create(
      this.phone,
      record,
      this.store,
      webSocket,
      (event) => this.onLinkEvent(link, event),
      (from, message) => this.fromBrowser(from, message),
    );
    this.links.set(record.sessionId, link);
    link.start();
    return link;
  }

  get size(): number {
    return this.links.size;
  }

  /** The contacts come alive (when lively, they also write first now and then). */
  startContacts(): void {
    this.contacts.start(this.store.chatList().map(({ chat }) => chat));
  }

  close(sessionId: string): void {
    this.links.get(sessionId)?.stop();
    this.forget(sessionId);
  }

  stop(): void {
    this.contacts.stop();
    for (const sessionId of [...this.links.keys()]) this.close(sessionId);
  }

  /** A message typed on the phone itself. */
  async send(chatId: string, text: string): Promise<ChatMessage | null> {
    const message: ChatMessage = { id: crypto.randomUUID(), chatId, from: "me", text, at: Date.now() };
    const change = await this.apply({ type: "message", message });
    return change?.type === "message" ? change.message : null;
  }

  /** A chat opened on the phone itself. */
  async read(chatId: string): Promise<void> {
    await this.apply({ type: "read", chatId });
  }

  /** Logs a change, saved before anyone hears of it, then tells every browser and the contacts. */
  async apply(body: ChangeRequest): Promise<Change | null> {
    const change = await this.store.record(body);
    if (!change) return null;
    const chat = this.store.chat(change.type === "message" ? change.message.chatId : change.chatId)!;
    this.onEvent({ kind: "change", change, chat });
    for (const link of this.links.values()) this.background(this.push(link));
    if (change.type === "message" && change.message.from === "me") this.contacts.answer(chat, change.message);
    return change;
  }

  /** What a browser says. Changes are saved before the frame is acknowledged; answers are queued, not awaited. */
  private async fromBrowser(link: PhoneLink, message: AppMessage): Promise<void> {
    switch (message.kind) {
      case "sync_request":
        this.background(this.sync(link, message));
        return;
      case "history_request":
        this.background(this.sendHistory(link, message));
        return;
      case "send":
        await this.apply({ type: "message", message: { ...message.message, from: "me" } });
        if (message.message.attachment) void this.fetchAttachment(message.message.attachment);
        return;
      case "read":
        await this.apply({ type: "read", chatId: message.chatId });
        return;
    }
  }

  /** The phone fetches what a browser attached, as a phone does on receipt. */
  private async fetchAttachment(attachment: Attachment): Promise<void> {
    const { blobId, name } = attachment;
    try {
      const bytes = await this.media.receive(attachment);
      // Hashed again here, apart from the check in the download, for whoever watches the phone.
      const sha256 = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (byte) => byte.toString(16).padStart(2, "0")).join("");
      this.onEvent({ kind: "media", blobId, name, ok: true, size: bytes.length, sha256 });
    } catch (error) {
      this.onEvent({ kind: "media", blobId, name, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }

  private onLinkEvent(link: PhoneLink, event: LinkEvent): void {
    // Back online, or the browser read what was waiting: what it has not been sent goes out now.
    if (event.kind === "online" || event.kind === "delivered") this.background(this.push(link));
    if (event.kind === "delivered") return;
    if (event.kind === "ended" || event.kind === "refused") this.forget(link.sessionId);
    this.onEvent({ kind: "link", sessionId: link.sessionId, event });
  }

  private forget(sessionId: string): void {
    this.links.delete(sessionId);
    this.queues.delete(sessionId);
  }

  /** Work nobody waits for: a failure is reported, never left unhandled (it would end the CLI). */
  private background(work: Promise<unknown>): void {
    work.catch((error: unknown) => this.onEvent({ kind: "failed", error: error instanceof Error ? error.message : String(error) }));
  }

  private typing(chatId: string, from: string): void {
    this.onEvent({ kind: "typing", chatId, from });
    for (const link of this.links.values()) {
      if (link.pushedVersion !== undefined && link.undelivered < PUSH_BACKLOG_FRAMES) this.background(link.post({ kind: "typing", chatId, from }));
    }
  }

  /** Sends a browser the changes it has not been sent, unless it has had no snapshot yet or is not reading. */
  private push(link: PhoneLink): Promise<void> {
    return this.serially(link, async () => {
      const from = link.pushedVersion;
      if (from === undefined || from >= this.store.version || link.undelivered >= PUSH_BACKLOG_FRAMES) return;
      const changes = this.store.changesSince(from);
      // Further behind than the log reaches: it gets a snapshot when it asks.
      if (changes) await this.sendChanges(link, changes);
    });
  }

  /**
   * Answers a browser's sync_request. Frames already sealed for it reach it
   * before this answer, so it gets what comes after both them and `since`;
   * after a gap it saw, everything after `since`. No `since` (a browser with
   * nothing), or one the log no longer reaches: a snapshot.
   */
  private sync(link: PhoneLink, { since, gap }: AppMessageOf<"sync_request">): Promise<void> {
    return this.serially(link, async () => {
      const from = since === undefined || gap ? since : Math.max(since, link.pushedVersion ?? 0);
      const changes = from === undefined ? null : this.store.changesSince(from);
      if (!changes) return this.snapshot(link);
      if (changes.length > 0) await this.sendChanges(link, changes);
      // Nothing new: the browser is current, and pushes to it start from here.
      else if (link.pushedVersion !== from) await link.markPushed(from!);
    });
  }

  /** The chat list, then the latest messages of the most recent chats, then `synced`: enough to draw the screen. */
  private async snapshot(link: PhoneLink): Promise<void> {
    // Taken at once, so the version it ends with describes exactly these chats.
    const list = this.store.chatList();
    const recent = list.slice(0, SNAPSHOT_RECENT_CHATS).map(({ chat, unread }) => ({ chat, unread, page: this.store.page(chat.id, SNAPSHOT_CHAT_MESSAGES)! }));
    const version = this.store.version;
    const { name, number } = this.phone.identity;
    await link.post({ kind: "profile", name, number, about: "Hey there! I am using QR Link." });
    for (const chats of batches(list)) await link.post({ kind: "chats", chats });
    for (const { chat, unread, page } of recent) {
      const messages = fitting(page.messages);
      await link.post({ kind: "chat", chat, messages, unread, hasOlder: page.hasOlder || messages.length < page.messages.length });
    }
    await link.post({ kind: "synced", chats: list.length, version }, version);
    this.onEvent({ kind: "synced", sessionId: link.sessionId, chats: list.length });
  }

  /** Older messages of a chat, as many of those asked for as fit in a frame. Not part of the log: a page is what the phone has now. */
  private async sendHistory(link: PhoneLink, { chatId, before, limit }: AppMessageOf<"history_request">): Promise<void> {
    const page = this.store.page(chatId, limit, before);
    if (!page) return;
    const messages = fitting(page.messages);
    await link.post({ kind: "history", chatId, ...(before ? { before } : {}), messages, hasOlder: page.hasOlder || messages.length < page.messages.length });
  }

  private async sendChanges(link: PhoneLink, changes: Change[]): Promise<void> {
    for (const batch of batches(changes)) await link.post({ kind: "changes", changes: batch }, batch.at(-1)!.version);
  }

  private serially(link: PhoneLink, work: () => Promise<void>): Promise<void> {
    const result = (this.queues.get(link.sessionId) ?? Promise.resolve()).then(work);
    this.queues.set(
      link.sessionId,
      result.catch(() => undefined),
    );
    return result;
  }
}

const FRAME_ROOM_BYTES = MAX_FRAME_PLAINTEXT_BYTES - FRAME_MARGIN_BYTES;

function jsonBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length + 1;
}

/** Items in frames that each stay under the relay's limit, in order. */
function batches<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const bytes = jsonBytes(item);
    if (current.length > 0 && size + bytes > FRAME_ROOM_BYTES) {
      result.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += bytes;
  }
  if (current.length > 0) result.push(current);
  return result;
}

/** The latest of these messages that fit in one frame. */
function fitting(messages: readonly ChatMessage[]): ChatMessage[] {
  let size = 0;
  let start = messages.length;
  while (start > 0 && size + jsonBytes(messages[start - 1]) <= FRAME_ROOM_BYTES) size += jsonBytes(messages[--start]);
  return messages.slice(start);
}
