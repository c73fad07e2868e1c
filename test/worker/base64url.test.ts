// workerd has the platform's base64 codec (Uint8Array.prototype.toBase64),
// which crypto.ts uses in place of its own table; Node 20 has not, so the
// codec is checked here against btoa and atob, the way the wire was encoded.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64url, toBase64url } from "../../src/shared/crypto";

const viaBtoa = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

describe("base64url with the platform's codec", () => {
  it("is the codec workerd takes", () => {
    expect(typeof (Uint8Array.prototype as { toBase64?: unknown }).toBase64).toBe("function");
  });

  it("encodes as btoa does, and decodes back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const text = toBase64url(bytes);
        expect(text).toBe(viaBtoa(bytes));
        expect(fromBase64url(text)).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses padding, white space, the other alphabet and non-canonical last characters", () => {
    for (const malformed of ["A", "AB", "a+b", "ab/c", "abc=", "AAAAA", "AA==", "AAA=", "AA AA", "AAAA\n", " AAAA"]) expect(fromBase64url(malformed), malformed).toBeNull();
    expect(fromBase64url("AA")).toEqual(new Uint8Array([0]));
  });
});
