import { describe, expect, it } from "vitest";
import {
  BLOB_CHUNK_BYTES,
  BLOB_PART_BYTES,
  BLOB_PART_CHUNKS,
  BLOB_TAG_BYTES,
  importBlobSecret,
  newBlobSecret,
  openingStream,
  partCount,
  partSize,
  sealedSize,
  sealPart,
  type BlobKey,
} from "../../src/shared/blob-crypto";

function fileOf(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

async function sealAll(blobKey: BlobKey, file: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const read = async (offset: number, length: number) => file.slice(offset, offset + length);
  const parts: Uint8Array[] = [];
  for (let part = 1; part <= partCount(file.length); part++) parts.push(await sealPart(blobKey, file.length, part, read));
  return concat(parts);
}

/** Byte equality without vitest's element-by-element diff, which takes seconds on megabytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

function concat(pieces: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

/** Feeds `sealed` through the opening stream in pieces of `pieceBytes`. */
async function open(blobKey: BlobKey, size: number, sealed: Uint8Array, pieceBytes = 10_000, firstChunk = 0): Promise<Uint8Array> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let offset = 0; offset < sealed.length; offset += pieceBytes) controller.enqueue(sealed.slice(offset, offset + pieceBytes));
      controller.close();
    },
  });
  const pieces: Uint8Array[] = [];
  const reader = source.pipeThrough(openingStream(blobKey, size, firstChunk)).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concat(pieces);
    pieces.push(value);
  }
}

describe("chunked blob encryption", () => {
  it("seals and opens files of every awkward size, read back in any pieces", async () => {
    const blobKey = (await importBlobSecret(newBlobSecret()))!;
    for (const size of [0, 1, BLOB_CHUNK_BYTES - 1, BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES + 1, 3 * BLOB_CHUNK_BYTES + 5]) {
      const file = fileOf(size);
      const sealed = await sealAll(blobKey, file);
      expect(sealed.length).toBe(sealedSize(size));
      expect(sameBytes(await open(blobKey, size, sealed, 7_777), file)).toBe(true);
    }
  });

  it("cuts a large file into R2-sized parts sealed one at a time", async () => {
    const size = BLOB_PART_CHUNKS * BLOB_CHUNK_BYTES + 100;
    expect(partCount(size)).toBe(2);
    expect(partSize(size, 1)).toBe(BLOB_PART_BYTES);
    expect(BLOB_PART_BYTES).toBeGreaterThanOrEqual(5 * 1024 * 1024);
    expect(partSize(size, 2)).toBe(100 + BLOB_TAG_BYTES);
    const blobKey = (await importBlobSecret(newBlobSecret()))!;
    const file = fileOf(size);
    expect(sameBytes(await open(blobKey, size, await sealAll(blobKey, file), 1 << 20), file)).toBe(true);
  });

  it("holds no plaintext: the file's bytes appear nowhere in the sealed blob", async () => {
    const blobKey = (await importBlobSecret(newBlobSecret()))!;
    const file = new TextEncoder().encode("a known sentence that must not be stored in clear. ".repeat(2_000)) as Uint8Array<ArrayBuffer>;
    const sealed = new TextDecoder("latin1").decode(await sealAll(blobKey, file));
    expect(sealed.includes("a known sentence")).toBe(false);
  });

  it("resumes opening at a chunk boundary (a download resumed with Range)", async () => {
    const blobKey = (await importBlobSecret(newBlobSecret()))!;
    const size = 3 * BLOB_CHUNK_BYTES + 10;
    const file = fileOf(size);
    const sealed = await sealAll(blobKey, file);
    const from = 2 * (BLOB_CHUNK_BYTES + BLOB_TAG_BYTES);
    expect(sameBytes(await open(blobKey, size, sealed.slice(from), 5_000, 2), file.slice(2 * BLOB_CHUNK_BYTES))).toBe(true);
  });

  describe("refuses a blob that was changed", () => {
    const size = 3 * BLOB_CHUNK_BYTES;
    const sealedChunk = BLOB_CHUNK_BYTES + BLOB_TAG_BYTES;
    const cases: [string, (sealed: Uint8Array) => Uint8Array, RegExp][] = [
      ["a flipped bit", (sealed) => sealed.map((byte, i) => (i === sealedChunk + 5 ? byte ^ 1 : byte)), /chunk 1/],
      ["two chunks swapped", (sealed) => concat([sealed.slice(sealedChunk, 2 * sealedChunk), sealed.slice(0, sealedChunk), sealed.slice(2 * sealedChunk)]), /chunk 0/],
      ["the last chunk cut off", (sealed) => sealed.slice(0, 2 * sealedChunk), /ends early/],
      ["a byte cut off the end", (sealed) => sealed.slice(0, -1), /ends early/],
      ["bytes appended", (sealed) => concat([sealed, new Uint8Array(3)]), /more bytes/],
    ];
    for (const [what, change, error] of cases) {
      it(what, async () => {
        const blobKey = (await importBlobSecret(newBlobSecret()))!;
        const sealed = await sealAll(blobKey, fileOf(size));
        await expect(open(blobKey, size, change(sealed))).rejects.toThrow(error);
      });
    }

    it("a file cut to fewer chunks and announced with the shorter size", async () => {
      const blobKey = (await importBlobSecret(newBlobSecret()))!;
      const sealed = await sealAll(blobKey, fileOf(size));
      // The second chunk was sealed as "not last": it cannot pass for the end of a shorter file.
      await expect(open(blobKey, 2 * BLOB_CHUNK_BYTES, sealed.slice(0, 2 * sealedChunk))).rejects.toThrow(/chunk 1/);
    });

    it("another file's key", async () => {
      const sealed = await sealAll((await importBlobSecret(newBlobSecret()))!, fileOf(size));
      await expect(open((await importBlobSecret(newBlobSecret()))!, size, sealed)).rejects.toThrow(/chunk 0/);
    });
  });

  it("imports only a 40-byte secret", async () => {
    expect(await importBlobSecret("short")).toBeNull();
    expect(await importBlobSecret(newBlobSecret())).not.toBeNull();
  });
});
