import fc from "fast-check";
import { bytesToNumberLE, hexToBytes } from "@noble/curves/utils.js";
import { describe, expect, it } from "vitest";
import { codeLinkSecret, codeShare, type CodeExchangeContext } from "../../src/shared/code-exchange";
import { calculateGenerator, cpaceIsk, cpaceShare, generatorString } from "../../src/shared/cpace";
import { generateAgreementKeyPair, randomBase64url, toBase64url } from "../../src/shared/crypto";
import { formatLinkCode, generateLinkCode, LINK_CODE_ALPHABET, parseLinkCode } from "../../src/shared/link-code";

const hex = (text: string) => hexToBytes(text.replace(/\s+/g, ""));
const toHex = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");

// draft-irtf-cfrg-cpace, "Test vector for CPace using group ristretto255 and hash SHA-512".
const VECTOR = {
  prs: new TextEncoder().encode("Password"),
  ci: hex("0b415f696e69746961746f720b425f726573706f6e646572"),
  sid: hex("7e4b4791d6a8ef019b936c79fb7f2c57"),
  generatorStringLength: 170,
  generator: "222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56",
  ya: bytesToNumberLE(hex("da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08")),
  Ya: "d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157",
  yb: bytesToNumberLE(hex("d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d")),
  Yb: "3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258",
  isk: "b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dcae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447",
};

describe("CPace over ristretto255 and SHA-512", () => {
  it("matches the draft's test vector: generator, both shares and the initiator-responder ISK", () => {
    expect(generatorString(VECTOR.prs, VECTOR.ci, VECTOR.sid)).toHaveLength(VECTOR.generatorStringLength);
    const generator = calculateGenerator(VECTOR.prs, VECTOR.ci, VECTOR.sid);
    expect(toHex(generator)).toBe(VECTOR.generator);
    const Ya = cpaceShare(generator, VECTOR.ya);
    const Yb = cpaceShare(generator, VECTOR.yb);
    expect([toHex(Ya), toHex(Yb)]).toEqual([VECTOR.Ya, VECTOR.Yb]);
    const transcript = { initiatorShare: Ya, initiatorData: new TextEncoder().encode("ADa"), responderShare: Yb, responderData: new TextEncoder().encode("ADb") };
    expect(toHex(cpaceIsk(VECTOR.ya, Yb, VECTOR.sid, transcript)!)).toBe(VECTOR.isk);
    expect(toHex(cpaceIsk(VECTOR.yb, Ya, VECTOR.sid, transcript)!)).toBe(VECTOR.isk);
  });

  it("aborts on a share that is not a ristretto255 encoding, or is the identity", () => {
    const transcript = { initiatorShare: new Uint8Array(32), initiatorData: new Uint8Array(0), responderShare: new Uint8Array(32), responderData: new Uint8Array(0) };
    expect(cpaceIsk(VECTOR.ya, new Uint8Array(32), VECTOR.sid, transcript)).toBeNull();
    expect(cpaceIsk(VECTOR.ya, new Uint8Array(32).fill(0xff), VECTOR.sid, transcript)).toBeNull();
  });
});

const codeArbitrary = fc.string({ unit: fc.constantFrom(...LINK_CODE_ALPHABET), minLength: 8, maxLength: 8 });

/** One exchange as browser and phone run it; each side's link secret, from the code it holds. */
async function exchange(browserCode: string, phoneCode: string, shared: Omit<CodeExchangeContext, "code">) {
  const [browserKey, phoneKey] = [await generateAgreementKeyPair(), await generateAgreementKeyPair()];
  const browser = codeShare({ ...shared, code: browserCode });
  const phone = codeShare({ ...shared, code: phoneCode });
  const publicValues = { browserShare: browser.share, browserPublicKey: browserKey.publicKey, phoneShare: phone.share, phonePublicKey: phoneKey.publicKey };
  return {
    onBrowser: codeLinkSecret({ ...shared, code: browserCode }, browser, "browser", publicValues),
    onPhone: codeLinkSecret({ ...shared, code: phoneCode }, phone, "phone", publicValues),
  };
}

describe("the code exchange", () => {
  const context = () => ({ sessionId: randomBase64url(16), host: "qr.example", number: "+15550001" });

  it("gives both sides the same link secret for the same code, and unrelated ones for two different codes", async () => {
    await fc.assert(
      fc.asyncProperty(codeArbitrary, codeArbitrary, async (browserCode, phoneCode) => {
        const { onBrowser, onPhone } = await exchange(browserCode, phoneCode, context());
        expect(onBrowser).toMatch(/^[A-Za-z0-9_-]{22}$/);
        if (browserCode === phoneCode) expect(onPhone).toBe(onBrowser);
        else expect(onPhone).not.toBe(onBrowser);
      }),
      { numRuns: 60 },
    );
  });

  it("always agrees on the same code, and disagrees on a code one character off", async () => {
    await fc.assert(
      fc.asyncProperty(codeArbitrary, fc.nat({ max: 7 }), fc.nat({ max: 30 }), async (code, position, shift) => {
        const alphabetIndex = (LINK_CODE_ALPHABET.indexOf(code[position]!) + 1 + shift) % LINK_CODE_ALPHABET.length;
        const typo = code.slice(0, position) + LINK_CODE_ALPHABET[alphabetIndex] + code.slice(position + 1);
        const same = await exchange(code, code, context());
        expect(same.onPhone).toBe(same.onBrowser);
        const off = await exchange(code, typo, context());
        expect(off.onPhone).not.toBe(off.onBrowser);
      }),
      { numRuns: 30 },
    );
  });

  it("disagrees when the number or the session differs, with the same code", async () => {
    const code = generateLinkCode();
    const base = context();
    const [browserKey, phoneKey] = [await generateAgreementKeyPair(), await generateAgreementKeyPair()];
    const browser = codeShare({ ...base, code });
    const phone = codeShare({ ...base, code, number: "+15550002" });
    const values = { browserShare: browser.share, browserPublicKey: browserKey.publicKey, phoneShare: phone.share, phonePublicKey: phoneKey.publicKey };
    expect(codeLinkSecret({ ...base, code }, browser, "browser", values)).not.toBe(codeLinkSecret({ ...base, code, number: "+15550002" }, phone, "phone", values));
  });

  it("binds both X25519 keys: a swapped key gives another secret", async () => {
    const code = generateLinkCode();
    const shared = { ...context(), code };
    const [browserKey, phoneKey, swapped] = [await generateAgreementKeyPair(), await generateAgreementKeyPair(), await generateAgreementKeyPair()];
    const [browser, phone] = [codeShare(shared), codeShare(shared)];
    const values = { browserShare: browser.share, browserPublicKey: browserKey.publicKey, phoneShare: phone.share, phonePublicKey: phoneKey.publicKey };
    const onBrowser = codeLinkSecret(shared, browser, "browser", values);
    expect(codeLinkSecret(shared, phone, "phone", values)).toBe(onBrowser);
    expect(codeLinkSecret(shared, phone, "phone", { ...values, phonePublicKey: swapped.publicKey })).not.toBe(onBrowser);
  });

  it("refuses shares that are not 32 bytes", () => {
    const shared = { ...context(), code: generateLinkCode() };
    const own = codeShare(shared);
    const key = toBase64url(new Uint8Array(32));
    expect(codeLinkSecret(shared, own, "browser", { browserShare: own.share, browserPublicKey: key, phoneShare: toBase64url(new Uint8Array(31)), phonePublicKey: key })).toBeNull();
  });
});

describe("link codes", () => {
  it("are 8 characters of the alphabet, shown as XXXX-XXXX, and read back however they are typed", () => {
    for (let i = 0; i < 200; i++) {
      const code = generateLinkCode();
      expect(code).toMatch(/^[A-HJ-NP-Z2-9]{8}$/);
      expect(formatLinkCode(code)).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
      expect(parseLinkCode(formatLinkCode(code))).toBe(code);
      expect(parseLinkCode(` ${formatLinkCode(code).toLowerCase()} `)).toBe(code);
    }
  });

  it("has no look-alike characters, and refuses them and any other length", () => {
    for (const char of "01IO") expect(LINK_CODE_ALPHABET).not.toContain(char);
    expect(LINK_CODE_ALPHABET).toHaveLength(32);
    expect(parseLinkCode("ABCD-EF0H")).toBeNull();
    expect(parseLinkCode("ABCD-EFG")).toBeNull();
    expect(parseLinkCode("ABCD-EFGHJ")).toBeNull();
  });
});
