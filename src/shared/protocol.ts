// The wire protocol of QR Link in one place: HTTP bodies, WebSocket messages,
// close codes, error codes, limits and the QR text. The Worker, the browser app
// and the phone simulator all import it; docs/protocol.md describes it.
import * as z from "zod/mini";

export const LIMITS = {
  /** Largest phone request body, checked before parsing. */
  phoneRequestBytes: 4 * 1024,
  /** Largest WebSocket message on the relay, envelope included. */
  relayMessageBytes: 64 * 1024,
  /** Undelivered frames the server holds per direction before it refuses more. */
  bufferFrames: 1_000,
  bufferBytes: 8 * 1024 * 1024,
  nameLength: 64,
  /** Sockets one session accepts at once (browser tabs, resumes waiting on their challenge, the phone). */
  socketsPerSession: 8,
  /** Wrong scans of one session before its code is replaced early, and before the session ends. */
  failedScansBeforeRotation: 5,
  failedScansBeforeEnd: 10,
} as const;

/** The largest plaintext that still fits one relay frame once sealed and encoded. */
export const MAX_FRAME_PLAINTEXT_BYTES = Math.floor(((LIMITS.relayMessageBytes - 64) * 3) / 4) - 16;

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

/**
 * A page cannot set headers on a WebSocket, so a phone page signs its relay
 * socket in the subprotocol list instead (kept out of URLs and their logs).
 * The server answers with RELAY_SUBPROTOCOL.
 */
export const RELAY_SUBPROTOCOL = "qrl-v1";

export interface PhoneCredentials {
  number: string;
  timestamp: string;
  signature: string;
}

export function credentialsToSubprotocols(credentials: PhoneCredentials): string[] {
  return [RELAY_SUBPROTOCOL, `n.${credentials.number.slice(1)}`, `t.${credentials.timestamp}`, `s.${credentials.signature}`];
}

export function credentialsFromSubprotocols(header: string | undefined): PhoneCredentials | null {
  const values = (header ?? "").split(",").map((value) => value.trim());
  if (!values.includes(RELAY_SUBPROTOCOL)) return null;
  const field = (prefix: string) => values.find((value) => value.startsWith(`${prefix}.`))?.slice(prefix.length + 1);
  const [number, timestamp, signature] = [field("n"), field("t"), field("s")];
  return number && timestamp && signature ? { number: `+${number}`, timestamp, signature } : null;
}

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

export interface AccountInfo {
  number: string;
  name: string;
}

/** What the phone is shown before it confirms: who is asking to be linked. */
export interface DeviceContext {
  /** True when both places are known and differ from the phone's own: a relayed QR code looks like this. */
  placeMismatch: boolean;
  browser: string;
  os: string;
  /** "City, Country" where the platform knows it, otherwise "unknown". */
  place: string;
  /** First part of the browser's IP address, e.g. "203.0.113.x". */
  ipPrefix: string;
  /** When the QR session was opened (ms since epoch). */
  qrCreatedAt: number;
}

/** A browser linked to an account, as the phone's "Linked devices" lists it. */
export interface LinkedDevice {
  /** The pairing session's id. */
  id: string;
  /** Browser and OS, e.g. "Chrome 156 on Linux". */
  name: string;
  place: string;
  linkedAt: number;
  lastActiveAt: number;
}

/** How many browsers one account may link at once. */
export const MAX_LINKED_DEVICES = 4;

export const revokeRequestSchema = z.strictObject({ sessionId: sessionIdSchema });
export type RevokeRequest = z.infer<typeof revokeRequestSchema>;

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
  | "device_limit"
  | "unknown_device"
  | "rate_limited"
  | "unavailable"
  | "internal";

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

// ---------------------------------------------------------------------------
// WebSockets: browser <-> PairingSession <-> phone

export type SessionState = "pending" | "scanned" | "confirming" | "linked" | "ended";
export const END_REASONS = ["expired", "rejected", "key_mismatch", "logged_out", "revoked", "inactive", "too_many_attempts"] as const;
export type EndReason = (typeof END_REASONS)[number];
export type Direction = "to_browser" | "to_phone";
export type Presence = "online" | "offline";

/** Close codes the server uses (4000-4999 are ours). */
export const CLOSE_CODES = {
  expired: 4001,
  rejected: 4002,
  key_mismatch: 4003,
  logged_out: 4004,
  revoked: 4005,
  inactive: 4006,
  too_many_attempts: 4007,
  unknown_session: 4404,
  bad_message: 4400,
  resume_refused: 4401,
  heartbeat_timeout: 4408,
  replaced: 4409,
  message_too_large: 4413,
  too_many_sockets: 4429,
  /** The server failed handling a message; the client reconnects. */
  internal_error: 1011,
} as const satisfies Record<
  EndReason | "unknown_session" | "bad_message" | "resume_refused" | "heartbeat_timeout" | "replaced" | "message_too_large" | "too_many_sockets" | "internal_error",
  number
>;

/**
 * Heartbeat: phone and browser send "ping" every 10 s and the runtime answers
 * "pong" without waking the session object. A phone silent for 15 s is
 * offline; a browser silent for SOCKET_IDLE_MS is disconnected.
 */
export const HEARTBEAT = { request: "ping", response: "pong", intervalMs: 10_000 } as const;


const seqSchema = z.int().check(z.positive());
/** An encrypted relay frame; `seq` is the sender's counter for its direction, from 1. */
const frameSchema = z.object({ type: z.literal("frame"), seq: seqSchema, data: z.string().check(z.regex(/^[A-Za-z0-9_-]+$/)) });
const accountSchema = z.object({ number: phoneNumberSchema, name: z.string() });

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
  z.object({ type: z.literal("linked"), account: accountSchema, phonePublicKey: browserPublicKeySchema, confirmation: confirmationSchema }),
  /** A reloaded browser proves it holds the device key by signing this nonce. */
  z.object({ type: z.literal("challenge"), nonce: z.string() }),
  /**
   * The relay is open for this socket. `received`: the highest seq the server
   * holds from this side (resend what is above it); `delivered`: the highest
   * seq the other side acknowledged.
   */
  z.object({
    type: z.literal("ready"),
    sessionId: sessionIdSchema,
    account: accountSchema,
    received: z.int().check(z.nonnegative()),
    delivered: z.int().check(z.nonnegative()),
    phone: z.enum(["online", "offline"]),
  }),
  frameSchema,
  /** The server holds every frame up to `seq` from you (one tick). */
  z.object({ type: z.literal("stored"), seq: seqSchema }),
  /** The other side acknowledged every frame up to `seq` (two ticks). */
  z.object({ type: z.literal("delivered"), seq: seqSchema }),
  z.object({ type: z.literal("presence"), phone: z.enum(["online", "offline"]) }),
  /** A refusal on a socket that stays open; `expected` is the seq the server waits for (out_of_order). */
  /** rate_limited: the socket sent too much; what was refused was not stored, send it again after `retryAfterMs`. */
  z.object({
    type: z.literal("error"),
    code: z.enum(["buffer_full", "out_of_order", "not_ready", "rate_limited"]),
    message: z.string(),
    expected: z.optional(z.int()),
    retryAfterMs: z.optional(z.int().check(z.nonnegative())),
  }),
  z.object({ type: z.literal("ended"), reason: z.enum(END_REASONS) }),
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type ServerMessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

export const clientMessageSchema = z.discriminatedUnion("type", [
  /** Browser: the phone's confirmation MAC did not verify, so it refuses the link. */
  z.object({ type: z.literal("key_mismatch") }),
  /** Browser: the MAC verified; here is the device key it will resume with. */
  z.object({ type: z.literal("link_ack"), devicePublicKey: identityPublicKeySchema }),
  /** Browser: the answer to `challenge`. */
  z.object({ type: z.literal("resume"), signature: base64urlBytes(64) }),
  /** Browser: end the link from this side. */
  z.object({ type: z.literal("logout") }),
  /** Browser or phone: an encrypted frame for the other side. */
  frameSchema,
  /** Browser or phone: every frame up to `seq` is processed. */
  z.object({ type: z.literal("ack"), seq: seqSchema }),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

/** Reads a WebSocket message from a browser or phone: a JSON text of one of the client kinds, or null. */
export function parseClientMessage(raw: string | ArrayBuffer): ClientMessage | null {
  if (typeof raw !== "string") return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return null;
  }
  const parsed = clientMessageSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

// ---------------------------------------------------------------------------
// App messages: what phone and browser say to each other inside encrypted
// frames. The server never sees them.

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
