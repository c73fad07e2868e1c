// The protocol over HTTP: the signed phone requests and their bodies, what
// the phone is told, and the error codes. Import from ./protocol.
import * as z from "zod/mini";
import {
  browserPublicKeySchema,
  confirmationSchema,
  displayNameSchema,
  identityPublicKeySchema,
  identitySignatureSchema,
  phoneNumberSchema,
  sessionIdSchema,
  tokenSchema,
} from "./protocol-fields";

export const SIGNATURE_HEADERS = {
  number: "x-qrl-number",
  timestamp: "x-qrl-timestamp",
  signature: "x-qrl-signature",
} as const;

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
// Phone requests (all signed, see SIGNATURE_HEADERS and docs/protocol.md)

export const registerRequestSchema = z.strictObject({
  number: phoneNumberSchema,
  name: displayNameSchema,
  publicKey: identityPublicKeySchema,
});
export type RegisterRequest = z.infer<typeof registerRequestSchema>;

/**
 * Moves the account to a new identity key. Signed by the current key like
 * every phone request; `proof` is the new key's signature over the rotation
 * statement (see signKeyRotation in crypto.ts), whose time is the request's.
 */
export const rotateKeyRequestSchema = z.strictObject({
  publicKey: identityPublicKeySchema,
  proof: identitySignatureSchema,
});
export type RotateKeyRequest = z.infer<typeof rotateKeyRequestSchema>;

/** `phonePublicKey`: the phone's X25519 half, committed before it learns the number to match; confirm must carry the same key. */
export const inspectRequestSchema = z.strictObject({ sessionId: sessionIdSchema, token: tokenSchema, phonePublicKey: browserPublicKeySchema });
export type InspectRequest = z.infer<typeof inspectRequestSchema>;

export const confirmRequestSchema = z.strictObject({
  sessionId: sessionIdSchema,
  phonePublicKey: browserPublicKeySchema,
  confirmation: confirmationSchema,
});
export type ConfirmRequest = z.infer<typeof confirmRequestSchema>;

/** `reason: "wrong_number"`: the user picked a number the browser does not show; the session ends as `wrong_number`. */
export const rejectRequestSchema = z.strictObject({ sessionId: sessionIdSchema, reason: z.optional(z.literal("wrong_number")) });
export type RejectRequest = z.infer<typeof rejectRequestSchema>;

export interface AccountInfo {
  number: string;
  name: string;
}

/**
 * What `POST /api/link/confirm` answers: the account, and the linked relay's
 * address (`/api/links/:linkId/phone`), which no QR code shows.
 */
export interface ConfirmResponse extends AccountInfo {
  linkId: string;
}

/** What the phone is shown before it confirms: who is asking to be linked. */
export interface DeviceContext {
  /** True when both places are known and differ from the phone's own (country, or region): a relayed QR code looks like this. */
  placeMismatch: boolean;
  /** True when the browser's place or the phone's is unknown, so they could not be compared: the phone warns as well. */
  placeUnknown: boolean;
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
  | "forbidden"
  | "missing_signature"
  | "bad_signature"
  | "stale_request"
  | "replayed_request"
  | "unknown_account"
  | "number_taken"
  | "session_not_found"
  | "invalid_token"
  | "wrong_code"
  | "wrong_state"
  | "device_limit"
  | "unknown_device"
  | "rate_limited"
  | "unavailable"
  | "internal";

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}
