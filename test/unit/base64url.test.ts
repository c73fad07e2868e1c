import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64url, toBase64url } from "../../src/shared/crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

describe("base64url", () => {
  it("encodes as Node's own base64url does, and decodes back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), (bytes) => {
        const text = toBase64url(bytes);
        expect(text).toBe(Buffer.from(bytes).toString("base64url"));
        expect(fromBase64url(text)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses anything but the one canonical encoding of a byte string", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }).filter((bytes) => bytes.length % 3 !== 0), (bytes) => {
        const text = toBase64url(bytes);
        const last = ALPHABET.indexOf(text.at(-1)!);
        expect(fromBase64url(text.slice(0, -1) + ALPHABET[last ^ 1])).toBeNull();
      }),
      { numRuns: 1_000 },
    );
    for (const malformed of ["A", "AB", "a+b", "ab/c", "abc=", "AAAAA"]) expect(fromBase64url(malformed)).toBeNull();
  });
});
