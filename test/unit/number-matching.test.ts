import { describe, expect, it } from "vitest";
import { deriveLinkKeys, generateAgreementKeyPair, randomBase64url } from "../../src/shared/crypto";
import { matchingNumber, numberChoices } from "../../src/shared/number-matching";

describe("number matching", () => {
  it("gives the browser and the phone the same two digits, each from its own half of the key agreement", async () => {
    const [browser, phone] = [await generateAgreementKeyPair(), await generateAgreementKeyPair()];
    const [sessionId, qrSecret] = [randomBase64url(16), randomBase64url(16)];
    const transcript = { sessionId, browserPublicKey: browser.publicKey, phonePublicKey: phone.publicKey };
    const onBrowser = await matchingNumber((await deriveLinkKeys(browser.privateKey, phone.publicKey, qrSecret, sessionId))!, transcript);
    const onPhone = await matchingNumber((await deriveLinkKeys(phone.privateKey, browser.publicKey, qrSecret, sessionId))!, transcript);
    expect(onBrowser).toMatch(/^\d{2}$/);
    expect(onPhone).toBe(onBrowser);
  });

  it("spreads over all hundred numbers (it depends on the phone's key)", async () => {
    const browser = await generateAgreementKeyPair();
    const [sessionId, qrSecret] = [randomBase64url(16), randomBase64url(16)];
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const phone = await generateAgreementKeyPair();
      const keys = (await deriveLinkKeys(phone.privateKey, browser.publicKey, qrSecret, sessionId))!;
      seen.add(await matchingNumber(keys, { sessionId, browserPublicKey: browser.publicKey, phonePublicKey: phone.publicKey }));
    }
    // 300 draws from 100 values leave about 5 unseen; fewer than 80 seen would mean a badly skewed number.
    expect(seen.size).toBeGreaterThan(80);
  });

  it("offers the right number and two distinct decoys, each position as likely", () => {
    const positions = [0, 0, 0];
    for (let i = 0; i < 3_000; i++) {
      const right = String(i % 100).padStart(2, "0");
      const choices = numberChoices(right);
      expect(choices).toHaveLength(3);
      expect(new Set(choices).size).toBe(3);
      for (const choice of choices) expect(choice).toMatch(/^\d{2}$/);
      positions[choices.indexOf(right)]! += 1;
    }
    for (const count of positions) expect(count).toBeGreaterThan(850);
  });

  it("draws new decoys when the random source repeats itself or hits the right number", () => {
    const draws = [42, 42, 42, 7, 7, 13, 0, 0];
    const random = (bound: number) => (draws.shift() ?? 0) % bound;
    const choices = numberChoices("42", random);
    expect([...choices].sort()).toEqual(["07", "13", "42"]);
  });
});
