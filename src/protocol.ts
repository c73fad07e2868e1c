// The wire protocol of QR Link in one place: HTTP bodies, WebSocket messages,
// close codes, error codes, limits and the QR text. The Worker, the browser app
// and the phone simulator all import it; docs/protocol.md describes it.
import * as z from "zod/mini";

export const LIMITS = {
  /** Largest phone request body, checked before parsing. */
  phoneRequestBytes: 4 * 1024,
  /** Largest WebSocket message a browser may send before linking. */
  browserMessageBytes: 1024,
  nameLength: 64,
} as const;

export const SIGNATURE_HEADERS = {
  number: "x-qrl-number",
  timestamp: "x-qrl-timestamp",
  signature: "x-qrl-signature",
} as const;

/** base64url of exactly `byteLength` bytes (no padding). */
function base64urlBytes(byteLength: number) {
  const length = Math.ceil((byteLength * 4) / 3);
  return z.string().check(z.length(length), z.regex(/^[A-Za-z0-9_-]+$/, "must be base64url"));
}

export const sessionIdSchema = base64urlBytes(16);
export const tokenSchema = base64urlBytes(16);
export const browserPublicKeySchema = base64urlBytes(32);
export const qrSecretSchema = base64urlBytes(16);
export const identityPublicKeySchema = base64urlBytes(65);
export const confirmationSchema = base64urlBytes(32);
/** E.164: a plus sign and 7 to 15 digits. */
export const phoneNumberSchema = z.string().check(z.regex(/^\+[1-9]\d{6,14}$/, "must be an E.164 number such as +15550001"));
export const displayNameSchema = z
  .string()
  .check(z.trim(), z.minLength(1), z.maxLength(LIMITS.nameLength), z.regex(/^[^\p{Cc}]+$/u, "must not contain control characters"));

// ---------------------------------------------------------------------------
// HTTP: phone requests (all signed, see SIGNATURE_HEADERS and docs/protocol.md)

export const registerRequestSchema = z.strictObject({
  number: phoneNumberSchema,
  name: displayNameSchema,
  publicKey: identityPublicKeySchema,
});
export type RegisterRequest = z.infer<typeof registerRequestSchema>;

export const inspectRequestSchema = z.strictObject({ sessionId: sessionIdSchema, token: tokenSchema });
export type InspectRequest = z.infer<typeof inspectRequestSchema>;

export const confirmRequestSchema = z.strictObject({
  sessionId: sessionIdSchema,
  phonePublicKey: browserPublicKeySchema,
  confirmation: confirmationSchema,
});
export type ConfirmRequest = z.infer<typeof confirmRequestSchema>;

export const rejectRequestSchema = z.strictObject({ sessionId: sessionIdSchema });
export type RejectRequest = z.infer<typeof rejectRequestSchema>;

export interface Account {
  number: string;
  name: string;
}

/** What the phone is shown before it confirms: who is asking to be linked. */
export interface DeviceContext {
  browser: string;
  os: string;
  /** "City, Country" where the platform knows it, otherwise "unknown". */
  place: string;
  /** First part of the browser's IP address, e.g. "203.0.113.x". */
  ipPrefix: string;
  /** When the QR session was opened (ms since epoch). */
  qrCreatedAt: number;
}

export type ErrorCode =
  | "bad_json"
  | "invalid_input"
  | "payload_too_large"
  | "not_found"
  | "upgrade_required"
  | "forbidden_origin"
  | "missing_signature"
  | "bad_signature"
  | "stale_request"
  | "replayed_request"
  | "unknown_account"
  | "number_taken"
  | "session_not_found"
  | "invalid_token"
  | "wrong_state"
  | "internal";

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

// ---------------------------------------------------------------------------
// WebSocket: browser <-> PairingSession

export type SessionState = "pending" | "scanned" | "linked" | "ended";
export type EndReason = "expired" | "rejected" | "key_mismatch";

/** Close codes the server uses on the browser socket (4000-4999 are ours). */
export const CLOSE_CODES = {
  expired: 4001,
  rejected: 4002,
  key_mismatch: 4003,
  bad_message: 4400,
  message_too_large: 4413,
} as const satisfies Record<EndReason | "bad_message" | "message_too_large", number>;

export const serverMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("session"), sessionId: sessionIdSchema, createdAt: z.number() }),
  z.object({
    type: z.literal("token"),
    token: tokenSchema,
    /** 0-based position in the schedule; `count` tokens in all. */
    seq: z.int().check(z.nonnegative()),
    count: z.int().check(z.positive()),
    expiresAt: z.number(),
  }),
  z.object({ type: z.literal("scanned") }),
  z.object({
    type: z.literal("linked"),
    account: z.object({ number: phoneNumberSchema, name: z.string() }),
    phonePublicKey: browserPublicKeySchema,
    confirmation: confirmationSchema,
  }),
  z.object({ type: z.literal("ended"), reason: z.enum(["expired", "rejected", "key_mismatch"]) }),
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

export const browserMessageSchema = z.discriminatedUnion("type", [
  /** The phone's confirmation MAC did not verify: the browser refuses the link. */
  z.object({ type: z.literal("key_mismatch") }),
]);
export type BrowserMessage = z.infer<typeof browserMessageSchema>;

// ---------------------------------------------------------------------------
// QR text: <origin>/link#<sessionId>.<token>.<browserPublicKey>.<qrSecret>
// The fragment never reaches a server, so neither the key nor the secret is logged.

export interface QrPayload {
  sessionId: string;
  token: string;
  browserPublicKey: string;
  qrSecret: string;
}

export const LINK_PATH = "/link";

export function formatQrText(origin: string, payload: QrPayload): string {
  return `${origin}${LINK_PATH}#${payload.sessionId}.${payload.token}.${payload.browserPublicKey}.${payload.qrSecret}`;
}

export function parseQrText(text: string): (QrPayload & { origin: string }) | null {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return null;
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.pathname !== LINK_PATH) return null;
  const [sessionId, token, browserPublicKey, qrSecret, ...rest] = url.hash.slice(1).split(".");
  if (rest.length > 0) return null;
  const payload = { sessionId, token, browserPublicKey, qrSecret };
  const valid =
    sessionIdSchema.safeParse(sessionId).success &&
    tokenSchema.safeParse(token).success &&
    browserPublicKeySchema.safeParse(browserPublicKey).success &&
    qrSecretSchema.safeParse(qrSecret).success;
  return valid ? { origin: url.origin, ...(payload as QrPayload) } : null;
}
