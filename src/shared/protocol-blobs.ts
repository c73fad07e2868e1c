// The protocol for photos and files (media blobs) over HTTP. A blob is a
// file sealed on the sending device (blob-crypto.ts) and stored as
// ciphertext; every request is signed by a device of the account the blob
// belongs to: the phone with its identity key (SIGNATURE_HEADERS, as every
// phone request), a linked browser with its device key (DEVICE_HEADERS).
// Import from ./protocol.
import * as z from "zod/mini";
import { fromBase64url, toBase64url } from "./crypto";

export const BLOBS_PATH = "/api/blobs";

/** A linked browser's signature: which link it is, when, and its device key's signature over `deviceRequestText`. */
export const DEVICE_HEADERS = {
  link: "x-qrl-link",
  timestamp: "x-qrl-timestamp",
  signature: "x-qrl-device-signature",
} as const;

/**
 * What an upload part is signed with instead of its body's hash: a part is
 * streamed to storage and never held whole, and its bytes are sealed
 * AES-GCM chunks that the receiver checks anyway (as S3's UNSIGNED-PAYLOAD).
 */
export const UNSIGNED_PAYLOAD = "unsigned-payload";

export const blobIdSchema = z.string().check(z.length(22), z.regex(/^[A-Za-z0-9_-]+$/, "must be base64url"));
export const blobKindSchema = z.enum(["photo", "file"]);
export type BlobKind = z.infer<typeof blobKindSchema>;

/** `size`: the file's own size in bytes (before sealing); the limit for its kind is checked before anything is uploaded. */
export const createBlobRequestSchema = z.strictObject({
  kind: blobKindSchema,
  size: z.number().check(z.int(), z.nonnegative(), z.maximum(2 ** 40)),
});
export type CreateBlobRequest = z.infer<typeof createBlobRequestSchema>;

/** Where an upload stands: the parts stored so far (R2 numbers them from 1), so an upload cut off resumes with the rest. */
export interface BlobUploadState {
  blobId: string;
  kind: BlobKind;
  size: number;
  partCount: number;
  uploaded: number[];
  complete: boolean;
  /** When the blob is deleted whoever has not fetched it (ms since epoch). */
  expiresAt: number;
}

/** What `GET /api/blobs/limits` answers: the largest photo and file, so a device can refuse one before uploading. */
export interface BlobLimits {
  photoBytes: number;
  fileBytes: number;
}

export interface DeviceRequestParts {
  host: string;
  linkId: string;
  method: string;
  path: string;
  timestamp: string;
  /** SHA-256 of the body (base64url), or UNSIGNED_PAYLOAD for an upload part. */
  bodyHash: string;
}

const SIGNATURE_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;

/** What a browser's device key signs: labelled apart from resume challenges and phone requests, so no signature serves as another. */
export function deviceRequestText(parts: DeviceRequestParts): string {
  return ["qr-link-device-request-v1", parts.host.toLowerCase(), parts.linkId, parts.method.toUpperCase(), parts.path, parts.timestamp, parts.bodyHash].join("\n");
}

export async function signDeviceRequest(privateKey: CryptoKey, parts: DeviceRequestParts): Promise<string> {
  const text = new TextEncoder().encode(deviceRequestText(parts));
  return toBase64url(await crypto.subtle.sign(SIGNATURE_ALGORITHM, privateKey, text));
}

export async function verifyDeviceRequest(publicKey: CryptoKey, parts: DeviceRequestParts, signature: string): Promise<boolean> {
  const bytes = fromBase64url(signature);
  if (!bytes || bytes.length !== 64) return false;
  return crypto.subtle.verify(SIGNATURE_ALGORITHM, publicKey, bytes, new TextEncoder().encode(deviceRequestText(parts)));
}
