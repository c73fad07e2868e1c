// The simulated phone's contacts: they receive and read what the account
// holder sends (moving the ticks), type, and answer; when lively they also
// write first now and then. Everything they do goes through the change log.
import type { Attachment, Chat, ChatMessage } from "../../shared/protocol";
import type { ChangeRequest } from "./chat-book";
import { openerFor, replyTo } from "./history";

export interface ContactsOptions {
  /** Contacts who write first every OPENER_EVERY_MS or so; off, they only answer. */
  lively?: boolean;
}

interface ContactActions {
  record(body: ChangeRequest): Promise<unknown>;
  typing(chatId: string, from: string): void;
  /** What a contact did could not be kept (a failed save): reported, and they go on. */
  failed(error: unknown): void;
  /** A photo for a contact to send (uploaded); null when it could not be. */
  photo(seed: number): Promise<Attachment | null>;
}

/** A message that asks for a photo gets one back: how a test (or a user) makes a contact send one. */
const ASKS_FOR_PHOTO = /\bphotos?\b/i;

/** When, after a message of the account holder's, the contact's phone has it, they read it, type, and answer. */
export const CONTACT_TIMING = { deliveredMs: 400, readMs: 1_200, typingMs: 1_500, replyMs: 3_000 } as const;
/** A lively contact writes first about this often (± half). */
export const OPENER_EVERY_MS = 45_000;

export class Contacts {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private openers = 0;
  private stopped = false;

  constructor(
    private readonly act: ContactActions,
    private readonly options: ContactsOptions,
  ) {}

  /** The account holder sent `message` in `chat`. */
  answer(chat: Chat, message: ChatMessage): void {
    const reply = replyTo(chat, message);
    const receipt = (status: "delivered" | "read") => () => this.act.record({ type: "status", chatId: chat.id, messageId: message.id, status });
    this.after(CONTACT_TIMING.deliveredMs, receipt("delivered"));
    this.after(CONTACT_TIMING.readMs, receipt("read"));
    this.after(CONTACT_TIMING.typingMs, () => this.act.typing(chat.id, reply.from));
    this.after(CONTACT_TIMING.replyMs, async () => {
      const attachment = ASKS_FOR_PHOTO.test(message.text) ? await this.act.photo(message.at) : null;
      const text = attachment ? "Here you go 📷" : reply.text;
      await this.act.record({ type: "message", message: { ...reply, text, at: Date.now(), ...(attachment ? { attachment } : {}) } });
    });
  }

  /** When lively, someone writes first now and then, until `stop`. */
  start(chats: Chat[]): void {
    if (!this.options.lively || chats.length === 0) return;
    this.after(OPENER_EVERY_MS * (0.5 + Math.random()), () => {
      const opener = openerFor(chats, ++this.openers, Date.now() + CONTACT_TIMING.typingMs);
      this.act.typing(opener.chatId, opener.from);
      this.after(CONTACT_TIMING.typingMs, () => this.act.record({ type: "message", message: opener }));
      this.start(chats);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private after(ms: number, work: () => unknown): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      Promise.resolve()
        .then(work)
        .catch((error: unknown) => this.act.failed(error));
    }, ms);
    this.timers.add(timer);
  }
}
