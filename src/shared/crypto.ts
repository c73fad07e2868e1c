// WebCrypto helpers shared by the Worker, the browser app and the phone
// simulator. Every primitive is the platform's; this file only composes them.

import { aesGcm, type AesGcmParams } from "./aes-gcm";

const encoder = new TextEncoder();

/** UTF-8 bytes; typed for WebCrypto, which takes only ArrayBuffer-backed views. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text) as Uint8Array<ArrayBuffer>;
}

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ENCODE = Uint8Array.from(BASE64URL_ALPHABET, (char) => char.charCodeAt(0));
/** Each character's 6 bits, or -1 for a character outside the alphabet. */
const DECODE = new Int8Array(128).fill(-1);
for (const [value, code] of ENCODE.entries()) DECODE[code] = value;
const ascii = new TextDecoder();

/** The platform's own codec (ES2026 Uint8Array base64: browsers since 2025, workerd; not Node 20 to 24). */
const native = Uint8Array as unknown as {
  prototype: { toBase64?(this: Uint8Array, options: { alphabet: "base64url"; omitPadding: true }): string };
  fromBase64?(text: string, options: { alphabet: "base64url" }): Uint8Array<ArrayBuffer>;
};

/**
 * base64url without padding. Every relay frame is encoded, so this is the
 * platform's codec where there is one, else a table lookup into ASCII bytes
 * (twice as fast as btoa over String.fromCharCode and the character swaps).
 */
export function toBase64url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (native.prototype.toBase64) return native.prototype.toBase64.call(view, { alphabet: "base64url", omitPadding: true });
  const length = view.length;
  const out = new Uint8Array(Math.ceil((length * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < length; i += 3) {
    const bits = (view[i]! << 16) | (view[i + 1]! << 8) | view[i + 2]!;
    out[o++] = ENCODE[bits >> 18]!;
    out[o++] = ENCODE[(bits >> 12) & 63]!;
    out[o++] = ENCODE[(bits >> 6) & 63]!;
    out[o++] = ENCODE[bits & 63]!;
  }
  if (i < length) {
    const bits = (view[i]! << 16) | ((view[i + 1] ?? 0) << 8);
    out[o++] = ENCODE[bits >> 18]!;
    out[o++] = ENCODE[(bits >> 12) & 63]!;
    if (i + 1 < length) out[o++] = ENCODE[(bits >> 6) & 63]!;
  }
  return ascii.decode(out);
}

/** Decodes base64url; returns null for anything that is not canonical base64url. */
export function fromBase64url(text: string): Uint8Array<ArrayBuffer> | null {
  const tail = text.length % 4;
  if (tail === 1) return null;
  // Canonical: the bits the last character carries beyond the last byte are zero (so each byte string has one encoding).
  const unusedBits = [0, 0, 4, 2][tail]!;
  if (unusedBits && DECODE[text.charCodeAt(text.length - 1)]! & ((1 << unusedBits) - 1)) return null;
  if (native.fromBase64) {
    // The platform's decoder also takes padding and skips white space: neither is base64url here.
    return /^[A-Za-z0-9_-]*$/.test(text) ? native.fromBase64(text, { alphabet: "base64url" }) : null;
  }
  const bytes = new Uint8Array((text.length * 3) >> 2);
  let o = 0;
  let i = 0;
  let invalid = 0;
  const sextet = (at: number) => DECODE[text.charCodeAt(at)] ?? -1;
  for (; i + 3 < text.length; i += 4) {
    const a = sextet(i), b = sextet(i + 1), c = sextet(i + 2), d = sextet(i + 3);
    invalid |= a | b | c | d;
    const bits = (a << 18) | (b << 12) | (c << 6) | d;
    bytes[o++] = bits >> 16;
    bytes[o++] = bits >> 8;
    bytes[o++] = bits;
  }
  if (tail) {
    const a = sextet(i), b = sextet(i + 1), c = tail === 3 ? sextet(i + 2) : 0;
    invalid |= a | b | c;
    const bits = (a << 18) | (b << 12) | (c << 6);
    bytes[o++] = bits >> 16;
    if (tail === 3) bytes[o++] = bits >> 8;
  }
  // Any character outside the alphabet decoded as -1, which sets the sign bit.
  return invalid < 0 ? null : bytes;
}

export function randomBase64url(byteLength: number): string {
  return toBase64url(crypto.getRandomValues(new Uint8Array(byteLength)));
}

export async function sha256Base64url(data: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const bytes = typeof data === "string" ? utf8(data) : data;
  return toBase64url(await crypto.subtle.digest("SHA-256", bytes));
}

// ---------------------------------------------------------------------------
// Phone identity: ECDSA P-256. Every phone request is signed over method,
// path, time and body hash, so there is no bearer secret to steal from a log.

const IDENTITY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNATURE_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;

export interface IdentityKeyPair {
  privateKey: CryptoKey;
  /** Uncompressed P-256 point, base64url (87 characters). */
  publicKey: string;
}

export async function generateIdentityKeyPair(extractable: boolean): Promise<IdentityKeyPair> {
  const pair = (await crypto.subtle.generateKey(IDENTITY_ALGORITHM, extractable, ["sign", "verify"])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: toBase64url(await crypto.subtle.exportKey("raw", pair.publicKey) as ArrayBuffer) };
}

export async function importIdentityPublicKey(publicKey: string): Promise<CryptoKey | null> {
  const raw = fromBase64url(publicKey);
  if (!raw || raw.length !== 65) return null;
  try {
    return await crypto.subtle.importKey("raw", raw, IDENTITY_ALGORITHM, false, ["verify"]);
  } catch {
    return null;
  }
}

export interface SignedRequestParts {
  /**
   * The host of the site's origin (SITE_ORIGIN's, e.g. "qr.example" or
   * "127.0.0.1:8787"), so a signature is good for one deployment only.
   */
  host: string;
  /** The account's number, so a signature is good for one account even where two share a key. */
  number: string;
  method: string;
  /** Path and query of the request URL, as the server sees it. */
  path: string;
  /** Milliseconds since the epoch, as sent in the timestamp header. */
  timestamp: string;
  bodyHash: string;
}

/** What a phone signs: one field a line, none of which can hold a line break (the server checks each first). */
export function canonicalRequest(parts: SignedRequestParts): string {
  return ["qr-link-request-v2", parts.host.toLowerCase(), parts.number, parts.method.toUpperCase(), parts.path, parts.timestamp, parts.bodyHash].join("\n");
}

export async function signRequest(privateKey: CryptoKey, parts: SignedRequestParts): Promise<string> {
  const signature = await crypto.subtle.sign(SIGNATURE_ALGORITHM, privateKey, utf8(canonicalRequest(parts)));
  return toBase64url(signature);
}

export async function verifyRequestSignature(publicKey: CryptoKey, parts: SignedRequestParts, signature: string): Promise<boolean> {
  const signatureBytes = fromBase64url(signature);
  if (!signatureBytes || signatureBytes.length !== 64) return false;
  return crypto.subtle.verify(SIGNATURE_ALGORITHM, publicKey, signatureBytes, utf8(canonicalRequest(parts)));
}

/** A key rotation: the new key's proof that it is held by whoever asks to move this number, from this key, now. */
export interface KeyRotationStatement {
  host: string;
  number: string;
  oldPublicKey: string;
  newPublicKey: string;
  /** The rotation request's own signed timestamp. */
  timestamp: string;
}

function keyRotationText(statement: KeyRotationStatement): Uint8Array<ArrayBuffer> {
  const { host, number, oldPublicKey, newPublicKey, timestamp } = statement;
  return utf8(["qr-link-rotate-key-v1", host.toLowerCase(), number, oldPublicKey, newPublicKey, timestamp].join("\n"));
}

/** Signed with the new private key (proof of possession). */
export async function signKeyRotation(newPrivateKey: CryptoKey, statement: KeyRotationStatement): Promise<string> {
  return toBase64url(await crypto.subtle.sign(SIGNATURE_ALGORITHM, newPrivateKey, keyRotationText(statement)));
}

export async function verifyKeyRotation(newPublicKey: CryptoKey, statement: KeyRotationStatement, proof: string): Promise<boolean> {
  const proofBytes = fromBase64url(proof);
  if (!proofBytes || proofBytes.length !== 64) return false;
  return crypto.subtle.verify(SIGNATURE_ALGORITHM, newPublicKey, proofBytes, keyRotationText(statement));
}

// ---------------------------------------------------------------------------
// Link key agreement: X25519 between the browser's QR key and the phone's
// ephemeral key, HKDF-SHA256 salted with the qrSecret the server never sees.

export interface AgreementKeyPair {
  privateKey: CryptoKey;
  /** Raw X25519 public key, base64url (43 characters). */
  publicKey: string;
}

/** `extractable` only for the CLI phone, which keeps its half in its profile file to re-derive the link keys. */
export async function generateAgreementKeyPair(extractable = false): Promise<AgreementKeyPair> {
  const pair = (await crypto.subtle.generateKey({ name: "X25519" }, extractable, ["deriveBits"])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: toBase64url(await crypto.subtle.exportKey("raw", pair.publicKey) as ArrayBuffer) };
}

export interface LinkKeys {
  phoneToBrowser: CryptoKey;
  browserToPhone: CryptoKey;
  confirmation: CryptoKey;
  /** HMAC key the two-digit matching number is derived with (see number-matching.ts). */
  matching: CryptoKey;
}

export interface LinkTranscript {
  sessionId: string;
  browserPublicKey: string;
  phonePublicKey: string;
  /** The phone's account number, so a server cannot swap accounts under a valid key exchange. */
  number: string;
  /** The account's name as the phone knows it, so a server cannot change "Linked to …" or the chat header. */
  name: string;
}

/**
 * Derives both relay keys, the confirmation key and the number-matching key;
 * either side calls it with its own private key. The first 96 bytes are what
 * they always were (HKDF output is a prefix of a longer one), so a link made
 * before the matching key existed derives the same relay keys.
 */
export async function deriveLinkKeys(privateKey: CryptoKey, peerPublicKey: string, qrSecret: string, sessionId: string): Promise<LinkKeys | null> {
  const peerRaw = fromBase64url(peerPublicKey);
  const salt = fromBase64url(qrSecret);
  if (!peerRaw || peerRaw.length !== 32 || !salt || salt.length !== 16) return null;
  let shared: ArrayBuffer;
  try {
    const peer = await crypto.subtle.importKey("raw", peerRaw, { name: "X25519" }, false, []);
    const algorithm = { name: "X25519", public: peer };
    shared = await crypto.subtle.deriveBits(algorithm, privateKey, 256);
  } catch {
    return null;
  }
  const hkdfKey = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
  const material = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: utf8(`qr-link-v1 link keys ${sessionId}`) }, hkdfKey, 4 * 256),
  );
  const aes = (bytes: Uint8Array<ArrayBuffer>) => crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
  return {
    phoneToBrowser: await aes(material.slice(0, 32)),
    browserToPhone: await aes(material.slice(32, 64)),
    confirmation: await crypto.subtle.importKey("raw", material.slice(64, 96), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]),
    matching: await crypto.subtle.importKey("raw", material.slice(96, 128), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
  };
}

function transcriptBytes(transcript: LinkTranscript): Uint8Array<ArrayBuffer> {
  return utf8(["qr-link-v1 confirmation", transcript.sessionId, transcript.browserPublicKey, transcript.phonePublicKey, transcript.number, transcript.name].join("\n"));
}

export async function signConfirmation(keys: LinkKeys, transcript: LinkTranscript): Promise<string> {
  return toBase64url(await crypto.subtle.sign("HMAC", keys.confirmation, transcriptBytes(transcript)));
}

/** HMAC verification in WebCrypto compares in constant time. */
export async function verifyConfirmation(keys: LinkKeys, transcript: LinkTranscript, confirmation: string): Promise<boolean> {
  const mac = fromBase64url(confirmation);
  if (!mac || mac.length !== 32) return false;
  return crypto.subtle.verify("HMAC", keys.confirmation, mac, transcriptBytes(transcript));
}

// ---------------------------------------------------------------------------
// Relay frames: AES-256-GCM with the per-direction key. A sealed frame is
//   FRAME_VERSION (1 byte) ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)
// and its additional data binds the session, the direction and the seq, so a
// frame replayed, moved to another seq or turned around fails to open.
//
// The nonce is random, not the seq: the seq comes from stored state, and two
// writers started from one stored state (two tabs, two phone processes, a
// restored backup) would seal different frames under one key and nonce, which
// leaks the XOR of the plaintexts and GCM's authentication key. A random
// 96-bit nonce needs no state to be unique; a link seals far fewer than the
// 2^32 frames NIST SP 800-38D allows one key with random nonces.

const FRAME_VERSION = 2;
const FRAME_NONCE_BYTES = 12;
/** What sealing adds to a plaintext: the version byte, the nonce and the tag. */
export const FRAME_OVERHEAD_BYTES = 1 + FRAME_NONCE_BYTES + 16;

/**
 * Frame nonces come from the CSPRNG a few KiB at a time: a nonce is public
 * (it travels in the frame), and one call to the platform's CSPRNG per frame
 * cost as much as the AES. Each is handed out once, and only in memory.
 */
const NONCES_PER_DRAW = 256;
let nonces = new Uint8Array(0);
let nextNonce = 0;

function frameNonce(): Uint8Array<ArrayBuffer> {
  if (nextNonce === nonces.length) {
    nonces = crypto.getRandomValues(new Uint8Array(FRAME_NONCE_BYTES * NONCES_PER_DRAW));
    nextNonce = 0;
  }
  nextNonce += FRAME_NONCE_BYTES;
  return nonces.slice(nextNonce - FRAME_NONCE_BYTES, nextNonce);
}

function frameAdditionalData(sessionId: string, direction: string, seq: number): Uint8Array<ArrayBuffer> {
  return utf8(`qr-link-v2 frame\n${sessionId}\n${direction}\n${seq}`);
}

/** `plaintext` as text, or as its UTF-8 bytes where the caller has them already (RelayChannel checks their length). */
export async function sealFrame(key: CryptoKey, sessionId: string, direction: string, seq: number, plaintext: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const nonce = frameNonce();
  const bytes = typeof plaintext === "string" ? utf8(plaintext) : plaintext;
  const sealed = await aesGcm.encrypt(key, { iv: nonce, additionalData: frameAdditionalData(sessionId, direction, seq) }, bytes);
  const frame = new Uint8Array(1 + FRAME_NONCE_BYTES + sealed.length);
  frame[0] = FRAME_VERSION;
  frame.set(nonce, 1);
  frame.set(sealed, 1 + FRAME_NONCE_BYTES);
  return toBase64url(frame);
}

/**
 * Frames sealed before random nonces (version 1: no header, the seq as the
 * nonce) may still wait in a server buffer or a sender's unstored list after
 * an upgrade; they open too, so the link does not stall on them. They bind
 * their seq through the nonce, so replaying or moving one fails as before.
 */
function legacyFrameParams(sessionId: string, direction: string, seq: number): AesGcmParams {
  const nonce = new Uint8Array(FRAME_NONCE_BYTES);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(seq));
  return { iv: nonce, additionalData: utf8(`qr-link-v1 frame ${sessionId} ${direction}`) };
}

const frameText = new TextDecoder();

async function decrypt(key: CryptoKey, params: AesGcmParams, sealed: Uint8Array<ArrayBuffer>): Promise<string | null> {
  const plaintext = await aesGcm.decrypt(key, params, sealed);
  return plaintext && frameText.decode(plaintext);
}

/**
 * The plaintext, or null when the frame was forged, altered, replayed or
 * moved. `acceptLegacy`: a version-1 frame opens too (see legacyFrameParams);
 * a channel stops accepting them once the other side sends version 2, since
 * a nonce reused under version 1 may have leaked the key to forge them.
 */
export async function openFrame(key: CryptoKey, sessionId: string, direction: string, seq: number, data: string, acceptLegacy = true): Promise<string | null> {
  const frame = fromBase64url(data);
  if (!frame) return null;
  if (frame[0] === FRAME_VERSION && frame.length >= FRAME_OVERHEAD_BYTES) {
    const params = { iv: frame.subarray(1, 1 + FRAME_NONCE_BYTES), additionalData: frameAdditionalData(sessionId, direction, seq) };
    const plaintext = await decrypt(key, params, frame.subarray(1 + FRAME_NONCE_BYTES));
    if (plaintext !== null) return plaintext;
  }
  // A version-1 frame's first byte is ciphertext, so it may look like a version byte: it is tried as version 1 too.
  return acceptLegacy ? decrypt(key, legacyFrameParams(sessionId, direction, seq), frame) : null;
}

// ---------------------------------------------------------------------------
// Browser resume: the device key made at link time signs a fresh server nonce.

function resumeText(sessionId: string, nonce: string): Uint8Array<ArrayBuffer> {
  return utf8(`qr-link-v1 resume\n${sessionId}\n${nonce}`);
}

export async function signResume(privateKey: CryptoKey, sessionId: string, nonce: string): Promise<string> {
  return toBase64url(await crypto.subtle.sign(SIGNATURE_ALGORITHM, privateKey, resumeText(sessionId, nonce)));
}

export async function verifyResume(publicKey: CryptoKey, sessionId: string, nonce: string, signature: string): Promise<boolean> {
  const bytes = fromBase64url(signature);
  if (!bytes || bytes.length !== 64) return false;
  return crypto.subtle.verify(SIGNATURE_ALGORITHM, publicKey, bytes, resumeText(sessionId, nonce));
}
