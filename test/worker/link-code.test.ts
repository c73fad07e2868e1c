import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { tryLinkCode } from "../../src/clients/phone-core/code-link";
import { calculateGenerator, lvCat } from "../../src/shared/cpace";
import { fromBase64url, generateIdentityKeyPair, sha256Base64url, toBase64url } from "../../src/shared/crypto";
import { formatLinkCode } from "../../src/shared/link-code";
import { CLOSE_CODES } from "../../src/shared/protocol";
import { RATE_LIMITS } from "../../src/worker/rate-limit";
import { CodeBrowser } from "./code-helpers";
import { clock, errorCode, openPhoneSocket, ORIGIN, randomAddress, randomNumber, registeredPhone, signedPost, storedTables, workerFetch } from "./helpers";
import { env } from "cloudflare:test";

afterEach(() => clock.stop());

/** A code that differs from `code` in its last character. */
function wrongCode(code: string): string {
  return code.slice(0, 7) + (code[7] === "A" ? "B" : "A");
}

describe("linking with a code", () => {
  it("links the browser when the phone types the code shown, after the same number matching as a scan", async () => {
    const phone = await registeredPhone("Alice");
    const browser = await CodeBrowser.open(phone.identity.number, { cf: { city: "Lisbon", country: "PT" } });
    const ready = await browser.waitFor("code_ready");
    expect(ready.triesLeft).toBe(3);

    const { qr, inspection } = await tryLinkCode(phone, formatLinkCode(browser.pairing.code).toLowerCase());
    expect(inspection).toMatchObject({ place: "Lisbon, PT", qrCreatedAt: browser.all("session")[0]!.createdAt });
    expect(browser.shown).toEqual([inspection.matchingNumber]);
    expect(inspection.choices).toContain(inspection.matchingNumber);

    const { account, keys, linkId } = await phone.confirm(qr);
    expect(account).toEqual({ number: phone.identity.number, name: "Alice" });
    const linked = await browser.waitFor("linked");
    const browserKeys = await browser.pairing.verifyLinked(linked);
    expect(browserKeys).not.toBeNull();
    // The same relay keys at both ends, and the relay opens at the link id as after a scan.
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, keys.browserToPhone, new TextEncoder().encode("hello"));
    expect(new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv }, browserKeys!.browserToPhone, sealed))).toBe("hello");
    const device = await generateIdentityKeyPair(false);
    browser.send({ type: "link_ack", devicePublicKey: device.publicKey });
    await browser.waitFor("ready");
    const phoneSocket = await openPhoneSocket(phone, { sessionId: browser.sessionId, linkId });
    expect(await phoneSocket.waitFor("ready")).toMatchObject({ account });
    expect(await phone.devices()).toEqual([expect.objectContaining({ id: browser.sessionId })]);
  });

  it("counts a wrong code as a try: the browser refuses its MAC, the phone is told the tries left, and the right code still links", async () => {
    const phone = await registeredPhone();
    const browser = await CodeBrowser.open(phone.identity.number);
    await browser.waitFor("code_ready");
    await expect(tryLinkCode(phone, wrongCode(browser.pairing.code))).rejects.toMatchObject({ status: 403, code: "wrong_code", message: expect.stringContaining("2 tries left") });
    expect(await browser.waitFor("code_ready", 2)).toMatchObject({ triesLeft: 2 });
    expect(browser.shown).toEqual([]);
    const row = await runInDurableObject(browser.stub, (_instance, state) => state.storage.sql.exec("SELECT state, failed_scans, phone_public_key FROM session").one());
    expect({ ...row }).toEqual({ state: "pending", failed_scans: 1, phone_public_key: null });

    const { qr } = await tryLinkCode(phone, browser.pairing.code);
    await phone.confirm(qr);
    expect(await browser.pairing.verifyLinked(await browser.waitFor("linked"))).not.toBeNull();
  });

  it("ends the session on the third wrong code", async () => {
    const phone = await registeredPhone();
    const browser = await CodeBrowser.open(phone.identity.number);
    await browser.waitFor("code_ready");
    for (const left of ["2 tries left", "1 try left", "last try"]) {
      await expect(tryLinkCode(phone, wrongCode(browser.pairing.code))).rejects.toMatchObject({ code: "wrong_code", message: expect.stringContaining(left) });
    }
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "too_many_attempts" });
    expect((await browser.waitForClose()).code).toBe(CLOSE_CODES.too_many_attempts);
    await expect(tryLinkCode(phone, browser.pairing.code)).rejects.toMatchObject({ code: "session_not_found" });
    await expect.poll(() => storedTables(browser.stub)).toBe(0);
  });

  it("refuses a code once it expired, and ends the session on its alarm", async () => {
    const openedAt = clock.start();
    const phone = await registeredPhone();
    const browser = await CodeBrowser.open(phone.identity.number);
    expect((await browser.waitFor("code_ready")).expiresAt).toBe(openedAt + 180_000);
    clock.set(openedAt + 180_000);
    await expect(tryLinkCode(phone, browser.pairing.code)).rejects.toMatchObject({ status: 404, code: "session_not_found" });
    clock.set(openedAt + 179_999);
    await runDurableObjectAlarm(browser.stub);
    expect(browser.all("ended")).toHaveLength(0);
    clock.set(openedAt + 180_000);
    await runDurableObjectAlarm(browser.stub);
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "expired" });
    expect((await browser.waitForClose()).code).toBe(CLOSE_CODES.expired);
  });

  it("holds the phone's try open until the browser checked it, and refuses a confirm before that", async () => {
    const phone = await registeredPhone();
    const browser = await CodeBrowser.open(phone.identity.number, { answers: false });
    await browser.waitFor("code_ready");
    const trying = tryLinkCode(phone, browser.pairing.code);
    const attempt = await browser.waitFor("code_try");
    const early = await signedPost(phone.identity, "/api/link/confirm", JSON.stringify({ sessionId: browser.sessionId, phonePublicKey: attempt.phonePublicKey, confirmation: attempt.confirmation }));
    expect(early.status).toBe(409);
    expect(await errorCode(early)).toBe("wrong_state");
    // A second try while this one is checked is refused too.
    await expect(tryLinkCode(phone, browser.pairing.code)).rejects.toMatchObject({ code: "session_not_found" });

    const verdict = await browser.pairing.check(attempt);
    expect(verdict.match).toBe(true);
    browser.send({ type: "code_verdict", match: true });
    const { qr } = await trying;
    await phone.confirm(qr);
    expect(await browser.pairing.verifyLinked(await browser.waitFor("linked"))).not.toBeNull();
  });

  it("answers a try the browser leaves unanswered with unavailable, and counts no try", async () => {
    const phone = await registeredPhone();
    const browser = await CodeBrowser.open(phone.identity.number, { answers: false });
    await browser.waitFor("code_ready");
    await expect(tryLinkCode(phone, browser.pairing.code)).rejects.toMatchObject({ status: 503, code: "unavailable" });
    const row = await runInDurableObject(browser.stub, (_instance, state) => state.storage.sql.exec("SELECT state, failed_scans FROM session").one());
    expect({ ...row }).toEqual({ state: "pending", failed_scans: 0 });
  });

  it("answers a try at once when the browser goes away, and keeps nothing", async () => {
    const phone = await registeredPhone();
    const browser = await CodeBrowser.open(phone.identity.number, { answers: false });
    await browser.waitFor("code_ready");
    const trying = tryLinkCode(phone, browser.pairing.code);
    await browser.waitFor("code_try");
    const closedAt = performance.now();
    browser.socket.close(1000, "tab closed");
    await expect(trying).rejects.toMatchObject({ code: "session_not_found" });
    expect(performance.now() - closedAt).toBeLessThan(1_500);
    await expect.poll(() => storedTables(browser.stub)).toBe(0);
  });

  it("is found only by the number's own phone", async () => {
    const [phone, other] = [await registeredPhone(), await registeredPhone("Mallory")];
    const browser = await CodeBrowser.open(phone.identity.number);
    await browser.waitFor("code_ready");
    await expect(tryLinkCode(other, browser.pairing.code)).rejects.toMatchObject({ code: "session_not_found" });
    expect(browser.all("code_try")).toHaveLength(0);
  });

  it("refuses a code that is not 8 characters of the alphabet without sending anything", async () => {
    const phone = await registeredPhone();
    await expect(tryLinkCode(phone, "ABCD-EF0")).rejects.toThrow("8 letters and digits");
    await expect(tryLinkCode(phone, "ABCD-EFG0")).rejects.toThrow("8 letters and digits");
  });

  it("withdraws a number's older code when a newer one is asked for", async () => {
    const phone = await registeredPhone();
    const first = await CodeBrowser.open(phone.identity.number);
    await first.waitFor("code_ready");
    const second = await CodeBrowser.open(phone.identity.number);
    await second.waitFor("code_ready");
    expect(await first.waitFor("ended")).toEqual({ type: "ended", reason: "expired" });
    const { qr } = await tryLinkCode(phone, second.pairing.code);
    expect(qr.sessionId).toBe(second.sessionId);
  });

  it("answers a code for an unregistered number as any other, and keeps nothing for that number", async () => {
    const number = randomNumber();
    const browser = await CodeBrowser.open(number);
    expect(await browser.waitFor("code_ready")).toMatchObject({ triesLeft: 3 });
    expect(await storedTables(env.ACCOUNT.getByName(number))).toBe(0);
  });

  it("keeps neither the code nor anything derived from it alone in the server's state or the bytes it relays", async () => {
    const phone = await registeredPhone();
    const browser = await CodeBrowser.open(phone.identity.number);
    await browser.waitFor("code_ready");
    const code = browser.pairing.code;
    // A wrong try and a right one, so every kind of message passes through.
    await tryLinkCode(phone, wrongCode(code)).catch(() => undefined);
    const { qr } = await tryLinkCode(phone, code);
    await phone.confirm(qr);
    await browser.waitFor("linked");

    const ci = lvCat(...["qr-link-v1 code", new URL(ORIGIN).host, phone.identity.number].map((text) => new TextEncoder().encode(text)));
    const generator = calculateGenerator(new TextEncoder().encode(code), ci, fromBase64url(browser.sessionId)!);
    const secrets = [code, formatLinkCode(code), code.toLowerCase(), toBase64url(new TextEncoder().encode(code)), await sha256Base64url(code), toBase64url(generator)];

    const dump = async (stub: DurableObjectStub) =>
      runInDurableObject(stub, (_instance, state) => {
        const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'").toArray();
        return JSON.stringify(tables.map(({ name }) => state.storage.sql.exec(`SELECT * FROM "${name}"`).toArray()));
      });
    const stored = (await dump(browser.stub)) + (await dump(env.ACCOUNT.getByName(phone.identity.number)));
    const relayed = browser.raw.join("\n");
    expect(stored).toContain(browser.sessionId);
    expect(relayed).toContain("code_try");
    for (const secret of secrets) {
      expect(stored).not.toContain(secret);
      expect(relayed).not.toContain(secret);
    }
  });
});

describe("code rate limits", () => {
  it("allows a few codes a minute for one number, then tells the browser to wait", async () => {
    const number = (await registeredPhone()).identity.number;
    for (let i = 0; i < RATE_LIMITS.codesPerNumber.limit; i++) await (await CodeBrowser.open(number)).waitFor("code_ready");
    const refused = await CodeBrowser.open(number);
    expect(await refused.waitFor("error")).toMatchObject({ code: "rate_limited", retryAfterMs: 60_000 });
    expect(refused.all("code_ready")).toHaveLength(0);
  });

  it("allows a few code sessions a minute from one address, then refuses the upgrade", async () => {
    const ip = randomAddress();
    for (let i = 0; i < RATE_LIMITS.codesPerIp.limit; i++) await CodeBrowser.openSocket({ ip });
    const response = await workerFetch("/api/code-sessions/connect", { headers: { upgrade: "websocket", origin: ORIGIN, "cf-connecting-ip": ip } });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("60");
  });
});
