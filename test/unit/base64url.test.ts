import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64url, toBase64url } from "../../src/shared/crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The decoder before the table one (atob over a checked string): what the wire accepted until now. */
function previousFromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const unusedBits = [0, 0, 4, 2][text.length % 4]!;
  if (unusedBits && ALPHABET.indexOf(text.at(-1)!) & ((1 << unusedBits) - 1)) return null;
  return Uint8Array.from(atob(text.replace(/[-_]/g, (char) => (char === "-" ? "+" : "/"))), (char) => char.charCodeAt(0));
}

/** Mostly base64url, with now and then a character it never holds (padding, white space, the other alphabet's, beyond ASCII). */
const almostBase64url = fc
  .array(fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...ALPHABET) }, { weight: 1, arbitrary: fc.constantFrom("=", " ", "\n", "+", "/", ".", "é", "\u0000", "\u{1F600}") }), { maxLength: 40 })
  .map((chars) => chars.join(""));

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

  it("accepts and refuses exactly what the previous decoder did", () => {
    fc.assert(
      fc.property(almostBase64url, (text) => {
        const previous = previousFromBase64url(text);
        const decoded = fromBase64url(text);
        if (previous === null) expect(decoded).toBeNull();
        else expect(decoded).toEqual(new Uint8Array(previous));
        // Node's decoder is lenient (padding, other alphabet); where the text is canonical it agrees.
        if (decoded) expect(new Uint8Array(Buffer.from(text, "base64url"))).toEqual(decoded);
      }),
      { numRuns: 20_000 },
    );
  });
});
