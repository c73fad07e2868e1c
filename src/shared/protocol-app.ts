// App messages: what phone and browser say to each other inside encrypted
// relay frames. The server never sees them. Import from ./protocol.
//
// The phone is the source of truth. Every change to its chats gets the next
// version number (its change log); the phone pushes changes to each linked
// browser as they happen, and a browser that comes back asks for the changes
// since the last version it applied (`sync_request`). Only a browser with
// nothing (`since` 0) or further behind than the phone keeps gets a snapshot:
// `profile`, one `chat` frame per chat, then `synced` with its version.
import * as z from "zod/mini";
import { BLOB_CHUNK_BYTES } from "./blob-crypto";
import { blobIdSchema, blobKindSchema } from "./protocol-blobs";
import { LIMITS, parseJson } from "./protocol-fields";

const version = z.int().check(z.nonnegative());
const chatId = z.string().check(z.minLength(1), z.maxLength(64));

/** How far a message of the account holder's has got: ✓ sent by the phone, ✓✓ delivered to the contact, blue ✓✓ read. */
export const messageStatusSchema = z.enum(["sent", "delivered", "read"]);
export type MessageStatus = z.infer<typeof messageStatusSchema>;

const base64url = (length: number) => z.string().check(z.length(length), z.regex(/^[A-Za-z0-9_-]+$/, "must be base64url"));

/** The largest thumbnail data URL: small enough that a chat of photos still fits the relay's frames. */
export const THUMBNAIL_MAX_CHARS = 6_000;

/**
 * A photo or file on a message: where its sealed blob is, the secret that
 * opens it (blob-crypto.ts), what it must hash to, and what to show before
 * it is fetched. Rides the change log like the rest of the message, so
 * every linked device gets it; the server sees only the sealed frame.
 */
const PHOTO_TYPES = /^image\/(png|jpeg|webp|gif)$/;

export const attachmentSchema = z.object({
  blobId: blobIdSchema,
  kind: blobKindSchema,
  /** 32-byte AES-256-GCM key and 8-byte nonce prefix, base64url. */
  secret: base64url(54),
  /** SHA-256 of the file itself, base64url. */
  sha256: base64url(43),
  size: z.int().check(z.nonnegative()),
  /** The file's type as its sender said, e.g. "image/png"; shown, never used to run anything. */
  mime: z.string().check(z.maxLength(127), z.regex(/^[\w.+-]+\/[\w.+-]+$/, "must be a type/subtype")),
  name: z.string().check(z.minLength(1), z.maxLength(255)),
  /** A small preview of a photo, as a data:image/png, jpeg or webp URL. */
  thumbnail: z.optional(z.string().check(z.maxLength(THUMBNAIL_MAX_CHARS), z.regex(/^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/=]+$/, "must be a PNG, JPEG or WebP data URL"))),
  chunkBytes: z.literal(BLOB_CHUNK_BYTES),
}).check(
  // A photo is shown as an image and may be opened in a tab of this origin: only raster image types, never HTML or SVG.
  z.refine((attachment) => attachment.kind !== "photo" || PHOTO_TYPES.test(attachment.mime), { message: "a photo is a PNG, JPEG, WebP or GIF", path: ["mime"] }),
);
export type Attachment = z.infer<typeof attachmentSchema>;

export const chatMessageSchema = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(64)),
  chatId,
  /** "me" for the account holder, otherwise the sender's name. */
  from: z.string().check(z.maxLength(LIMITS.nameLength)),
  /** Empty only on a message with an attachment (a photo without a caption). */
  text: z.string().check(z.maxLength(4_096)),
  at: z.number(),
  /** The phone's word on a message of "me"; absent on a message a browser asks the phone to send. */
  status: z.optional(messageStatusSchema),
  attachment: z.optional(attachmentSchema),
}).check(z.refine((message) => message.text.length > 0 || message.attachment !== undefined, { message: "text: must not be empty without an attachment", path: ["text"] }));
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const chatSchema = z.object({ id: chatId, title: z.string(), group: z.boolean() });
export type Chat = z.infer<typeof chatSchema>;

/** A chat in the chat list: enough to draw its row without its messages. */
export const chatSummarySchema = z.object({
  chat: chatSchema,
  last: z.optional(chatMessageSchema),
  unread: z.int().check(z.nonnegative()),
  /** How many messages the chat holds on the phone. */
  count: z.int().check(z.nonnegative()),
});
export type ChatSummary = z.infer<typeof chatSummarySchema>;

/** How many messages a browser asks for at a time when it scrolls back. */
export const HISTORY_PAGE_LIMIT = 500;

/** One entry of the phone's change log. */
export const changeSchema = z.discriminatedUnion("type", [
  /** A message in a chat, from a contact or sent from any device; `unread` is the chat's count after it. */
  z.object({ version, type: z.literal("message"), message: chatMessageSchema, unread: z.int().check(z.nonnegative()) }),
  /** The chat was read on some device: its unread count is 0 everywhere. */
  z.object({ version, type: z.literal("read"), chatId }),
  /** A contact's receipt moved the ticks of one of the account holder's messages. */
  z.object({ version, type: z.literal("status"), chatId, messageId: z.string().check(z.minLength(1), z.maxLength(64)), status: messageStatusSchema }),
]);
export type Change = z.infer<typeof changeSchema>;

export const appMessageSchema = z.discriminatedUnion("kind", [
  /** Phone: who the account is (first frame of a snapshot). */
  z.object({ kind: z.literal("profile"), name: z.string(), number: z.string(), about: z.string() }),
  /** Phone: part of a snapshot's chat list (the most recent chats first), without their messages. */
  z.object({ kind: z.literal("chats"), chats: z.array(chatSummarySchema) }),
  /** Phone: one chat of a snapshot with its latest messages; `hasOlder`: more precede them on the phone. */
  z.object({ kind: z.literal("chat"), chat: chatSchema, messages: z.array(chatMessageSchema), unread: z.int().check(z.nonnegative()), hasOlder: z.optional(z.boolean()) }),
  /** Phone: the answer to `history_request`, oldest first. */
  z.object({ kind: z.literal("history"), chatId, before: z.optional(z.string().check(z.maxLength(64))), messages: z.array(chatMessageSchema), hasOlder: z.boolean() }),
  /** Phone: the snapshot is complete and describes the chats at `version`. */
  z.object({ kind: z.literal("synced"), chats: z.int().check(z.nonnegative()), version }),
  /** Phone: the next changes of its log, in version order. */
  z.object({ kind: z.literal("changes"), changes: z.array(changeSchema) }),
  /** Phone: a contact is typing in a chat (shown for a few seconds; not part of the log). */
  z.object({ kind: z.literal("typing"), chatId, from: z.string().check(z.maxLength(LIMITS.nameLength)) }),
  /** Browser: the messages of a chat before `before` (the oldest it has), or its latest without it; at most `limit`. */
  z.object({ kind: z.literal("history_request"), chatId, before: z.optional(z.string().check(z.maxLength(64))), limit: z.int().check(z.positive(), z.maximum(HISTORY_PAGE_LIMIT)) }),
  /**
   * Browser: send me the changes after `since`, the last version applied
   * here; without it (nothing here yet), a snapshot. `gap`: a change skipped
   * a version here, so send everything after `since`, even what was sent before.
   */
  z.object({ kind: z.literal("sync_request"), since: z.optional(version), gap: z.optional(z.boolean()) }),
  /** Browser: send this message from the account. */
  z.object({ kind: z.literal("send"), message: chatMessageSchema }),
  /** Browser: the user read this chat. */
  z.object({ kind: z.literal("read"), chatId }),
]);
export type AppMessage = z.infer<typeof appMessageSchema>;
export type AppMessageOf<K extends AppMessage["kind"]> = Extract<AppMessage, { kind: K }>;

/** Reads the plaintext of a frame: an app message, or null (not JSON, or not a kind this version knows). */
export function parseAppMessage(plaintext: string): AppMessage | null {
  return parseJson(appMessageSchema, plaintext);
}
