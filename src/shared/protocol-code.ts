// The protocol of linking with a code instead of a QR scan: the browser's
// request for a code for a number, the phone's lookup and try, and the socket
// messages between them. The code itself is never in any of these. Import
// from ./protocol.
import * as z from "zod/mini";
import { browserPublicKeySchema, confirmationSchema, phoneNumberSchema, sessionIdSchema } from "./protocol-fields";
import type { DeviceContext } from "./protocol-http";

/** A CPace share: an encoded ristretto255 point (32 bytes). */
export const codeShareSchema = z.string().check(z.length(43), z.regex(/^[A-Za-z0-9_-]+$/, "must be base64url"));

// --- socket messages --------------------------------------------------------

/**
 * Browser → server, once on a code session: the number the user typed, the
 * browser's CPace share and its X25519 public key.
 */
export const codeRequestMessageSchema = z.object({
  type: z.literal("code_request"),
  number: phoneNumberSchema,
  browserShare: codeShareSchema,
  browserPublicKey: browserPublicKeySchema,
});

/** Browser → server: whether the phone's confirmation MAC verified with the keys from the browser's code. */
export const codeVerdictMessageSchema = z.object({ type: z.literal("code_verdict"), match: z.boolean() });

/** Server → browser: the code request is stored; the phone may try until `expiresAt`, `triesLeft` more wrong tries allowed. */
export const codeReadyMessageSchema = z.object({
  type: z.literal("code_ready"),
  expiresAt: z.number(),
  triesLeft: z.int().check(z.nonnegative()),
});

/**
 * Server → browser: the account's phone typed a code. Its CPace share, its
 * X25519 key (committed: confirm must carry the same) and its MAC over the
 * QR flow's transcript, for the account the server verified.
 */
export const codeTryMessageSchema = z.object({
  type: z.literal("code_try"),
  phoneShare: codeShareSchema,
  phonePublicKey: browserPublicKeySchema,
  confirmation: confirmationSchema,
  account: z.object({ number: phoneNumberSchema, name: z.string() }),
});

// --- phone requests ---------------------------------------------------------

/** `POST /api/link/code/find`: an empty object; the signed number says whose code is sought. */
export const codeFindRequestSchema = z.strictObject({});
export type CodeFindRequest = z.infer<typeof codeFindRequestSchema>;

/** What the phone gets for its number's waiting code session: where it is, the browser's share and key, and who asks. */
export interface CodeFindResponse extends DeviceContext {
  sessionId: string;
  browserShare: string;
  browserPublicKey: string;
}

/** `POST /api/link/code/try`: the phone's share, X25519 key and confirmation MAC, made with the code its user typed. */
export const codeTryRequestSchema = z.strictObject({
  sessionId: sessionIdSchema,
  phoneShare: codeShareSchema,
  phonePublicKey: browserPublicKeySchema,
  confirmation: confirmationSchema,
});
export type CodeTryRequest = z.infer<typeof codeTryRequestSchema>;
