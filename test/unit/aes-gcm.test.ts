import * as nodeCrypto from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { aesGcm, nodeAesGcm, webCryptoAesGcm } from "../../src/shared/aes-gcm";

const node = nodeAesGcm(nodeCrypto as unknown as Parameters<typeof nodeAesGcm>[0]);
const importKey = (raw: Uint8Array<ArrayBuffer>, usages: KeyUsage[] = ["encrypt", "decrypt"]) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, usages);
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((view) => new Uint8Array(view) as Uint8Array<ArrayBuffer>);
const flip = (view: Uint8Array<ArrayBuffer>, bit: number) => {
  const copy = view.slice();
  copy[(bit >> 3) % copy.length]! ^= 1 << (bit & 7);
  return copy;
};

describe("AES-GCM through Node's cipher", () => {
  it("is the route Node takes", () => {
    expect(aesGcm).not.toBe(webCryptoAesGcm);
  });

  it("seals exactly as WebCrypto does, and each opens the other's", async () => {
    await fc.assert(
      fc.asyncProperty(bytes(32, 32), bytes(12, 12), bytes(0, 64), bytes(0, 3000), async (raw, iv, additionalData, plaintext) => {
        const key = await importKey(raw);
        const sealed = await node.encrypt(key, { iv, additionalData }, plaintext);
        expect(sealed).toEqual(await webCryptoAesGcm.encrypt(key, { iv, additionalData }, plaintext));
        expect(await node.decrypt(key, { iv, additionalData }, sealed)).toEqual(plaintext);
        expect(await webCryptoAesGcm.decrypt(key, { iv, additionalData }, sealed)).toEqual(plaintext);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses what WebCrypto refuses: any bit changed in the sealed bytes, the nonce or the additional data, or a cut tag", async () => {
    await fc.assert(
      fc.asyncProperty(bytes(32, 32), bytes(12, 12), bytes(1, 32), bytes(0, 300), fc.nat(), fc.integer({ min: 1, max: 16 }), async (raw, iv, additionalData, plaintext, bit, cut) => {
        const key = await importKey(raw);
        const sealed = await node.encrypt(key, { iv, additionalData }, plaintext);
        for (const engine of [node, webCryptoAesGcm]) {
          expect(await engine.decrypt(key, { iv, additionalData }, flip(sealed, bit))).toBeNull();
          expect(await engine.decrypt(key, { iv: flip(iv, bit), additionalData }, sealed)).toBeNull();
          expect(await engine.decrypt(key, { iv, additionalData: flip(additionalData, bit) }, sealed)).toBeNull();
          expect(await engine.decrypt(key, { iv, additionalData }, sealed.slice(0, sealed.length - cut))).toBeNull();
        }
      }),
      { numRuns: 200 },
    );
  });

  it("opens under no other key, and throws for a key without the usage, as WebCrypto does", async () => {
    const iv = new Uint8Array(12);
    const additionalData = new Uint8Array(0);
    const raw = crypto.getRandomValues(new Uint8Array(32));
    const sealed = await node.encrypt(await importKey(raw), { iv, additionalData }, new Uint8Array(100));
    expect(await node.decrypt(await importKey(crypto.getRandomValues(new Uint8Array(32))), { iv, additionalData }, sealed)).toBeNull();
    await expect(node.decrypt(await importKey(raw, ["encrypt"]), { iv, additionalData }, sealed)).rejects.toThrow(TypeError);
    // Both routes say a key without the usage is a mistake, rather than a frame that does not open.
    await expect(webCryptoAesGcm.decrypt(await importKey(raw, ["encrypt"]), { iv, additionalData }, sealed)).rejects.toMatchObject({ name: "InvalidAccessError" });
    await expect(node.encrypt(await importKey(raw, ["decrypt"]), { iv, additionalData }, sealed)).rejects.toThrow(TypeError);
    const hmac = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    await expect(node.encrypt(hmac, { iv, additionalData }, sealed)).rejects.toThrow(TypeError);
  });

  it("hands back plain Uint8Arrays over their own buffers", async () => {
    const key = await importKey(crypto.getRandomValues(new Uint8Array(32)));
    const params = { iv: new Uint8Array(12), additionalData: new Uint8Array(0) };
    const sealed = await node.encrypt(key, params, new Uint8Array(10));
    const opened = (await node.decrypt(key, params, sealed))!;
    for (const view of [sealed, opened]) {
      expect(Object.getPrototypeOf(view)).toBe(Uint8Array.prototype);
      expect(view.buffer.byteLength).toBe(view.length);
    }
  });
});
