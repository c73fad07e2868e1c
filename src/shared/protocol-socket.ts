// The protocol over WebSockets: browser <-> PairingSession <-> phone. What
// the server says, what clients say, the close codes and the heartbeat.
// Import from ./protocol.
import * as z from "zod/mini";
import { browserPublicKeySchema, confirmationSchema, identityPublicKeySchema, linkIdSchema, parseJson, phoneNumberSchema, resumeSignatureSchema, sessionIdSchema, tokenSchema } from "./protocol-fields";
import { codeReadyMessageSchema, codeRequestMessageSchema, codeTryMessageSchema, codeVerdictMessageSchema } from "./protocol-code";

export type SessionState = "pending" | "scanned" | "confirming" | "linked" | "ended";
/** `wrong_number`: the phone picked a number the browser did not show (number matching), so the session ends. */
export const END_REASONS = ["expired", "rejected", "key_mismatch", "logged_out", "revoked", "inactive", "too_many_attempts", "wrong_number"] as const;
export type EndReason = (typeof END_REASONS)[number];
/** Why the Account refused a confirmed scan (`Account.addDevice`); the scan waits again. */
export const LINK_REFUSALS = ["device_limit", "unknown_account"] as const;
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
  wrong_number: 4008,
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
    /** The token's window, in the server's clock: shown from `startsAt` until `expiresAt`. A later message for the same `seq` replaces it. */
    startsAt: z.number(),
    expiresAt: z.number(),
  }),
  /**
   * A phone spent a token. `phonePublicKey` is the X25519 half it committed
   * to with `inspect`: the browser derives the two-digit number to show from
   * it, and a `linked` with another key is refused.
   */
  z.object({ type: z.literal("scanned"), phonePublicKey: browserPublicKeySchema }),
  /** `linkId`: the linked relay's address from now on (`/api/links/:linkId/browser`); the session id, which the QR showed, no longer reaches it. */
  z.object({ type: z.literal("linked"), account: accountSchema, phonePublicKey: browserPublicKeySchema, confirmation: confirmationSchema, linkId: linkIdSchema }),
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
    /** How often a browser that is watching asks whether the phone is still there (`presence_check`). */
    presenceCheckMs: z.optional(z.int().check(z.positive())),
  }),
  frameSchema,
  /** The server holds every frame up to `seq` from you (one tick). */
  z.object({ type: z.literal("stored"), seq: seqSchema }),
  /** The other side acknowledged every frame up to `seq` (two ticks). */
  z.object({ type: z.literal("delivered"), seq: seqSchema }),
  z.object({ type: z.literal("presence"), phone: z.enum(["online", "offline"]) }),
  /** A refusal on a socket that stays open; `expected` is the seq the server waits for (out_of_order). */
  /** rate_limited: the socket sent too much; what was refused was not stored, send it again after `retryAfterMs`. */
  /** already_requested: a code session takes one `code_request`; a second changes nothing. */
  z.object({
    type: z.literal("error"),
    code: z.enum(["buffer_full", "out_of_order", "not_ready", "rate_limited", "already_requested"]),
    message: z.string(),
    expected: z.optional(z.int()),
    retryAfterMs: z.optional(z.int().check(z.nonnegative())),
  }),
  /**
   * The phone confirmed but the account refused the link (`device_limit`: it
   * already has MAX_LINKED_DEVICES). Nothing was linked; the scan waits again,
   * so the phone may free a slot and confirm once more within the window.
   */
  z.object({ type: z.literal("refused"), code: z.enum(LINK_REFUSALS), message: z.string() }),
  z.object({ type: z.literal("ended"), reason: z.enum(END_REASONS) }),
  codeReadyMessageSchema,
  codeTryMessageSchema,
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type ServerMessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

export const clientMessageSchema = z.discriminatedUnion("type", [
  /** Browser: the phone's confirmation MAC did not verify, so it refuses the link. */
  z.object({ type: z.literal("key_mismatch") }),
  /** Browser: the MAC verified; here is the device key it will resume with. */
  z.object({ type: z.literal("link_ack"), devicePublicKey: identityPublicKeySchema }),
  /** Browser: the answer to `challenge`. */
  z.object({ type: z.literal("resume"), signature: resumeSignatureSchema }),
  /** Browser: end the link from this side. */
  z.object({ type: z.literal("logout") }),
  /** Browser or phone: an encrypted frame for the other side. */
  frameSchema,
  /** Browser or phone: every frame up to `seq` is processed. */
  z.object({ type: z.literal("ack"), seq: seqSchema }),
  /**
   * Browser, while its page is visible: is the phone still there? Answered
   * with `presence`. Presence is checked only when a browser asks, so an idle
   * link wakes nothing and runs no alarm.
   */
  z.object({ type: z.literal("presence_check") }),
  codeRequestMessageSchema,
  codeVerdictMessageSchema,
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

/**
 * The relay's two busy messages as clients write them (JSON.stringify of
 * `{type, seq, data}` or `{type, seq}`). A text of exactly this form is read
 * without JSON.parse and zod: the schema accepts every such text and reads
 * the same message from it (a seq of at most 15 digits without a leading zero
 * is a positive safe integer; data is base64url, so it has no escapes). Any
 * other text goes through the schema, so what is accepted is the schema's.
 */
const WRITTEN_FRAME = /^\{"type":"frame","seq":([1-9][0-9]{0,14}),"data":"([A-Za-z0-9_-]+)"\}$/;
const WRITTEN_ACK = /^\{"type":"ack","seq":([1-9][0-9]{0,14})\}$/;

/** Reads a WebSocket message from a browser or phone: a JSON text of one of the client kinds, or null. */
export function parseClientMessage(raw: string | ArrayBuffer): ClientMessage | null {
  if (typeof raw !== "string") return null;
  const frame = WRITTEN_FRAME.exec(raw);
  if (frame) return { type: "frame", seq: Number(frame[1]), data: frame[2]! };
  const ack = WRITTEN_ACK.exec(raw);
  if (ack) return { type: "ack", seq: Number(ack[1]) };
  return parseJson(clientMessageSchema, raw);
}

/** Reads a WebSocket message from the server; null for anything that is not one (a newer server's kind, bad JSON): never throws. */
export function parseServerMessage(raw: unknown): ServerMessage | null {
  return typeof raw === "string" ? parseJson(serverMessageSchema, raw) : null;
}
