// App messages: what phone and browser say to each other inside encrypted
// relay frames. The server never sees them. Import from ./protocol.
import * as z from "zod/mini";
import { LIMITS } from "./protocol-fields";

export const chatMessageSchema = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(64)),
  chatId: z.string().check(z.minLength(1), z.maxLength(64)),
  /** "me" for the account holder, otherwise the sender's name. */
  from: z.string().check(z.maxLength(LIMITS.nameLength)),
  text: z.string().check(z.minLength(1), z.maxLength(4_096)),
  at: z.number(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const chatSchema = z.object({ id: z.string(), title: z.string(), group: z.boolean() });
export type Chat = z.infer<typeof chatSchema>;

export const appMessageSchema = z.discriminatedUnion("kind", [
  /** Phone: who the account is. */
  z.object({ kind: z.literal("profile"), name: z.string(), number: z.string(), about: z.string() }),
  /** Phone: one chat of the history with its messages (one frame per chat during a sync). */
  z.object({ kind: z.literal("chat"), chat: chatSchema, messages: z.array(chatMessageSchema), unread: z.int().check(z.nonnegative()) }),
  /** Phone: the sync is complete. */
  z.object({ kind: z.literal("synced"), chats: z.int().check(z.nonnegative()) }),
  /** Phone: a new message in a chat (a contact's reply, or one sent from the phone). */
  z.object({ kind: z.literal("message"), message: chatMessageSchema }),
  /** Browser: send me the history. */
  z.object({ kind: z.literal("sync_request") }),
  /** Browser: send this message from the account. */
  z.object({ kind: z.literal("send"), message: chatMessageSchema }),
  /** Browser: the user read this chat. */
  z.object({ kind: z.literal("read"), chatId: z.string() }),
]);
export type AppMessage = z.infer<typeof appMessageSchema>;
