// The protocol's limits and the field shapes both HTTP and WebSocket messages
// are built from (ids, keys, numbers, names). Import from ./protocol.
import * as z from "zod/mini";
import { FRAME_OVERHEAD_BYTES } from "./crypto";

export const LIMITS = {
  /** Largest phone request body, checked before parsing. */
  phoneRequestBytes: 4 * 1024,
  /** Largest WebSocket message on the relay, envelope included. */
  relayMessageBytes: 64 * 1024,
  /** Undelivered frames the server holds per direction before it refuses more. */
  bufferFrames: 1_000,
  bufferBytes: 8 * 1024 * 1024,
  nameLength: 64,
  /**
   * Resumes waiting on their challenge that one session holds at once; a new
   * one closes the oldest. The phone and a verified browser have slots of
   * their own, so strangers who know a session id cannot lock its owners out.
   */
  unansweredResumesPerSession: 4,
  /** Wrong scans of one session before its code is replaced early, and before the session ends. */
  failedScansBeforeRotation: 5,
  failedScansBeforeEnd: 10,
} as const;

/** The largest plaintext that still fits one relay frame once sealed and encoded, with 64 bytes for the JSON envelope. */
export const MAX_FRAME_PLAINTEXT_BYTES = Math.floor(((LIMITS.relayMessageBytes - 64) * 3) / 4) - FRAME_OVERHEAD_BYTES;

/** base64url of exactly `byteLength` bytes (no padding). */
function base64urlBytes(byteLength: number) {
  const length = Math.ceil((byteLength * 4) / 3);
  return z.string().check(z.length(length), z.regex(/^[A-Za-z0-9_-]+$/, "must be base64url"));
}

export const sessionIdSchema = base64urlBytes(16);
/**
 * The address of a linked session's relay: its Durable Object's id (64
 * lowercase hex characters), handed to both sides when they link. Unlike the
 * session id it is in no QR code.
 */
export const linkIdSchema = z.string().check(z.regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex characters"));
export const tokenSchema = base64urlBytes(16);
export const browserPublicKeySchema = base64urlBytes(32);
export const qrSecretSchema = base64urlBytes(16);
export const identityPublicKeySchema = base64urlBytes(65);
export const confirmationSchema = base64urlBytes(32);
/** A browser's answer to `challenge`: its device key's signature. */
export const resumeSignatureSchema = base64urlBytes(64);
/** E.164: a plus sign and 7 to 15 digits. */
export const phoneNumberSchema = z.string().check(z.regex(/^\+[1-9]\d{6,14}$/, "must be an E.164 number such as +15550001"));
/** A phone's signature with its identity key (ECDSA P-256, IEEE P1363), e.g. a key rotation's proof. */
export const identitySignatureSchema = base64urlBytes(64);

/**
 * Characters a name may not hold: controls, lone surrogates, line and
 * paragraph separators, and format characters (\p{Cf}: bidi overrides and
 * isolates, zero-width spaces, soft hyphens, tags), which can make a name
 * read as another. A zero-width joiner inside an emoji sequence (👩‍💻) stays.
 */
const HIDDEN_CHARACTER = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}]|(?!(?<=[\p{Extended_Pictographic}\p{Emoji_Modifier}]\uFE0F?)\u200D(?=\p{Extended_Pictographic}))\p{Cf}/u;

/** 1 to 64 characters, trimmed and in Unicode NFC, so one name has one spelling; no hidden characters. */
export const displayNameSchema = z
  .string()
  .check(
    z.trim(),
    z.normalize("NFC"),
    z.minLength(1),
    z.maxLength(LIMITS.nameLength),
    z.refine((name) => !HIDDEN_CHARACTER.test(name), "must not contain control or invisible formatting characters (such as bidi overrides or zero-width spaces)"),
  );

/** Reads a JSON text with a schema: the value, or null when it is not JSON or not of that shape. Never throws. */
export function parseJson<T>(schema: z.ZodMiniType<T>, text: string): T | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : null;
}
