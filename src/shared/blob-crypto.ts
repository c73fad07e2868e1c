// End-to-end encryption of photos and files (media blobs). The sending device
// draws a fresh secret per file; the file is cut into 64 KiB chunks, each
// sealed on its own with AES-256-GCM, so a file streams through in constant
// memory and a tampered chunk is caught as soon as it is read. Only
// ciphertext reaches the server; the secret travels in the chat message,
// through the end-to-end-encrypted relay.
//
// Format (docs/protocol.md "Photos and files"):
//   secret  = 32-byte AES key || 8-byte random nonce prefix (base64url, 40 bytes)
//   chunk i = AES-GCM(plaintext[i*64Ki .. (i+1)*64Ki)) with
//             nonce = prefix || uint32be(i)
//             AAD   = "qrl-blob-v1" || uint32be(i) || (1 if last else 0)
//   blob    = chunk 0 || chunk 1 || … (each 16 bytes longer than its plaintext)
// The index in nonce and AAD makes reordering fail; the last flag makes
// truncation at a chunk boundary fail (the new last chunk was sealed as "not
// last"), and so does appending. An empty file is one empty chunk.
import { aesGcm } from "./aes-gcm";
import { fromBase64url, toBase64url } from "./crypto";

export const BLOB_CHUNK_BYTES = 64 * 1024;
export const BLOB_TAG_BYTES = 16;
const SEALED_CHUNK_BYTES = BLOB_CHUNK_BYTES + BLOB_TAG_BYTES;
/**
 * Chunks per upload part: 80 sealed chunks are 5,244,160 bytes, just over
 * R2's 5 MiB minimum part size, and a part is sealed from its own chunks
 * alone, so a resumed upload re-encrypts only the parts it still needs.
 */
export const BLOB_PART_CHUNKS = 80;
export const BLOB_PART_BYTES = BLOB_PART_CHUNKS * SEALED_CHUNK_BYTES;

const KEY_BYTES = 32;
const PREFIX_BYTES = 8;
const AAD_LABEL = new TextEncoder().encode("qrl-blob-v1");

/** A file's key and nonce prefix, as they are imported for sealing and opening. */
export interface BlobKey {
  key: CryptoKey;
  prefix: Uint8Array<ArrayBuffer>;
}

/** A fresh secret for one file (base64url of 40 random bytes). */
export function newBlobSecret(): string {
  return toBase64url(crypto.getRandomValues(new Uint8Array(KEY_BYTES + PREFIX_BYTES)));
}

/** Imports a secret; null when it is not 40 bytes of base64url. */
export async function importBlobSecret(secret: string): Promise<BlobKey | null> {
  const bytes = fromBase64url(secret);
  if (!bytes || bytes.length !== KEY_BYTES + PREFIX_BYTES) return null;
  const key = await crypto.subtle.importKey("raw", bytes.slice(0, KEY_BYTES), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return { key, prefix: bytes.slice(KEY_BYTES) };
}

/** Chunks in a file of `size` bytes (at least one: an empty file is one empty chunk). */
export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / BLOB_CHUNK_BYTES));
}

/** The blob's size once sealed: the file plus one tag per chunk. */
export function sealedSize(size: number): number {
  return size + chunkCount(size) * BLOB_TAG_BYTES;
}

/** Upload parts of the sealed blob (R2 multipart: every part but the last is BLOB_PART_BYTES). */
export function partCount(size: number): number {
  return Math.ceil(chunkCount(size) / BLOB_PART_CHUNKS);
}

/** The byte length of part `part` (1-based, as R2 numbers them) of a file of `size` bytes. */
export function partSize(size: number, part: number): number {
  const first = (part - 1) * BLOB_PART_CHUNKS * BLOB_CHUNK_BYTES;
  const plain = Math.min(size, first + BLOB_PART_CHUNKS * BLOB_CHUNK_BYTES) - first;
  return sealedSize(plain);
}

function nonceOf(blobKey: BlobKey, index: number): Uint8Array<ArrayBuffer> {
  const nonce = new Uint8Array(PREFIX_BYTES + 4);
  nonce.set(blobKey.prefix);
  new DataView(nonce.buffer).setUint32(PREFIX_BYTES, index);
  return nonce;
}

function aadOf(index: number, last: boolean): Uint8Array<ArrayBuffer> {
  const aad = new Uint8Array(AAD_LABEL.length + 5);
  aad.set(AAD_LABEL);
  const view = new DataView(aad.buffer);
  view.setUint32(AAD_LABEL.length, index);
  view.setUint8(AAD_LABEL.length + 4, last ? 1 : 0);
  return aad;
}

export function sealChunk(blobKey: BlobKey, index: number, last: boolean, plaintext: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return aesGcm.encrypt(blobKey.key, { iv: nonceOf(blobKey, index), additionalData: aadOf(index, last) }, plaintext);
}

/** The chunk's plaintext, or null when it was tampered with, moved, or is not the last one it claims to be. */
export function openChunk(blobKey: BlobKey, index: number, last: boolean, sealed: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer> | null> {
  return aesGcm.decrypt(blobKey.key, { iv: nonceOf(blobKey, index), additionalData: aadOf(index, last) }, sealed);
}

/** Reads `length` bytes of the file at `offset` (a Blob's slice, a file handle, a buffer). */
export type ReadRange = (offset: number, length: number) => Promise<Uint8Array<ArrayBuffer>>;

/**
 * Seals part `part` (1-based) of a file of `size` bytes, reading only its own
 * bytes, in one read (a browser's Blob read costs a round trip each).
 */
export async function sealPart(blobKey: BlobKey, size: number, part: number, read: ReadRange): Promise<Uint8Array<ArrayBuffer>> {
  const chunks = chunkCount(size);
  const first = (part - 1) * BLOB_PART_CHUNKS;
  const end = Math.min(chunks, first + BLOB_PART_CHUNKS);
  const partStart = first * BLOB_CHUNK_BYTES;
  const plain = await read(partStart, Math.min(size, end * BLOB_CHUNK_BYTES) - partStart);
  // All of the part's chunks at once: a browser's WebCrypto seals them on its own threads, instead of one round trip each.
  const chunkSeals = [];
  for (let index = first; index < end; index++) {
    const start = (index - first) * BLOB_CHUNK_BYTES;
    chunkSeals.push(sealChunk(blobKey, index, index === chunks - 1, plain.subarray(start, start + BLOB_CHUNK_BYTES)));
  }
  const sealed = new Uint8Array(partSize(size, part));
  let offset = 0;
  for (const chunk of await Promise.all(chunkSeals)) {
    sealed.set(chunk, offset);
    offset += chunk.length;
  }
  return sealed;
}

export class BlobTamperedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlobTamperedError";
  }
}

/**
 * Opens a sealed blob as it streams in (a download's body, in any pieces),
 * given the file's size from its message: each chunk is checked as soon as
 * it is whole; a tampered, reordered, truncated or lengthened blob errors
 * the stream with BlobTamperedError. `firstChunk` starts it mid-blob, for a
 * download resumed with a Range at a chunk boundary.
 */
export function openingStream(blobKey: BlobKey, size: number, firstChunk = 0): TransformStream<Uint8Array, Uint8Array> {
  const chunks = chunkCount(size);
  let index = firstChunk;
  let pending = new Uint8Array(0);
  const sealedLength = (i: number) => Math.min(BLOB_CHUNK_BYTES, size - i * BLOB_CHUNK_BYTES) + BLOB_TAG_BYTES;
  const openNext = async (controller: TransformStreamDefaultController<Uint8Array>) => {
    const length = sealedLength(index);
    const plaintext = await openChunk(blobKey, index, index === chunks - 1, pending.subarray(0, length));
    if (!plaintext) throw new BlobTamperedError(`chunk ${index} of the file does not decrypt: it was changed, moved or cut`);
    pending = pending.subarray(length);
    index++;
    controller.enqueue(plaintext);
  };
  return new TransformStream({
    async transform(piece, controller) {
      // A body's pieces are never over shared memory.
      if (pending.length === 0) pending = piece as Uint8Array<ArrayBuffer>;
      else {
        const joined = new Uint8Array(pending.length + piece.length);
        joined.set(pending);
        joined.set(piece, pending.length);
        pending = joined;
      }
      while (index < chunks && pending.length >= sealedLength(index)) await openNext(controller);
      if (index === chunks && pending.length > 0) throw new BlobTamperedError("the file has more bytes than it was sent with");
    },
    flush() {
      if (index < chunks) throw new BlobTamperedError(`the file ends early: ${index} of ${chunks} chunks arrived`);
    },
  });
}
