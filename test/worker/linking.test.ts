import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { randomBase64url } from "../../src/shared/crypto";
import { CLOSE_CODES, LIMITS, MAX_LINKED_DEVICES } from "../../src/shared/protocol";
import { BrowserClient, clock, errorCode, linkBrowser, registeredPhone, signedPost, storedTables } from "./helpers";

afterEach(() => clock.stop());

describe("scanning a QR code", () => {
  it("tells the browser at once and shows the phone what asks to be linked", async () => {
    const browser = await BrowserClient.open({
      userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
      ip: "203.0.113.7",
      cf: { city: "Lisbon", country: "PT" },
    });
    const phone = await registeredPhone();
    const { matchingNumber, choices, ...context } = await phone.inspect(browser.qr());
    expect(context).toEqual({
      browser: "Safari 18",
      os: "macOS",
      place: "Lisbon, PT",
      ipPrefix: "203.0.113.x",
      qrCreatedAt: browser.all("session")[0]!.createdAt,
      placeMismatch: false,
      // This phone's own request has no place: the two cannot be compared, and the phone says so.
      placeUnknown: true,
    });
    expect(await browser.waitFor("scanned")).toEqual({ type: "scanned", phonePublicKey: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(await browser.shownNumber()).toBe(matchingNumber);
    expect(choices).toContain(matchingNumber);
  });

  it("gives no place for a connection from a local address, whatever the platform guessed", async () => {
    const browser = await BrowserClient.open({ ip: "127.0.0.1", cf: { city: "Austin", country: "US" } });
    const context = await (await registeredPhone()).inspect(browser.qr());
    expect(context).toMatchObject({ place: "unknown", ipPrefix: "127.0.0.x" });
  });

  it("spends the token: a second scan of the same code is refused, even by the same phone", async () => {
    const browser = await BrowserClient.open();
    const [phone, other] = [await registeredPhone(), await registeredPhone("Mallory")];
    await phone.inspect(browser.qr());
    await expect(phone.inspect(browser.qr())).rejects.toMatchObject({ code: "invalid_token" });
    await expect(other.inspect(browser.qr())).rejects.toMatchObject({ code: "invalid_token" });
  });

  it("refuses a wrong token, an expired one and an unknown session", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    await expect(phone.inspect({ ...browser.qr(), token: randomBase64url(16) })).rejects.toMatchObject({ status: 403, code: "invalid_token" });
    await expect(phone.inspect({ ...browser.qr(), sessionId: randomBase64url(16) })).rejects.toMatchObject({ status: 404, code: "session_not_found" });

    clock.set(openedAt + 65_000);
    await expect(phone.inspect(browser.qr(browser.token(0)))).rejects.toMatchObject({ code: "invalid_token" });
    expect(browser.all("scanned")).toHaveLength(0);
  });

  it("replaces the code at once after 5 wrong scans, and ends the session after 10", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    const guess = () => phone.inspect({ ...browser.qr(), token: randomBase64url(16) }).catch((error: { code: string }) => error.code);
    for (let i = 0; i < 4; i++) expect(await guess()).toBe("invalid_token");
    expect(browser.all("token")).toHaveLength(6);
    const shown = browser.qr();
    await guess();
    // The rest of the schedule is sent again, from now: the next token is on screen at once.
    await browser.waitFor("token", 11);
    expect(browser.onScreen()).toMatchObject({ seq: 1 });
    // The code that was on screen gets no grace: someone may have been guessing at it.
    await expect(phone.inspect(shown)).rejects.toMatchObject({ code: "invalid_token" });
    for (let i = 0; i < 3; i++) await guess();
    expect(browser.all("ended")).toHaveLength(0);
    await guess();
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "too_many_attempts" });
    expect((await browser.waitForClose()).code).toBe(CLOSE_CODES.too_many_attempts);
  });

  it("refuses a malformed token before it reaches the session", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    const response = await signedPost(phone.identity, "/api/link/inspect", JSON.stringify({ sessionId: browser.sessionId, token: "short" }));
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("invalid_input");
  });
});

describe("confirming a link", () => {
  it("links the browser to the account, and the browser verifies the phone's key confirmation", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone("Alice");
    const { matchingNumber } = await phone.inspect(browser.qr());
    expect(await browser.shownNumber()).toBe(matchingNumber);
    const { account, keys } = await phone.confirm(browser.qr());
    expect(account).toEqual({ number: phone.identity.number, name: "Alice" });

    const linked = await browser.waitFor("linked");
    expect(linked.account).toEqual(account);
    expect(linked.phonePublicKey).toBe(browser.all("scanned")[0]!.phonePublicKey);
    const browserKeys = await browser.pairing.verifyLinked(browser.sessionId, linked);
    expect(browserKeys).not.toBeNull();
    // Both ends hold the same relay keys: what the phone seals, the browser opens.
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, keys.phoneToBrowser, new TextEncoder().encode("hello"));
    const opened = await crypto.subtle.decrypt({ name: "AES-GCM", iv }, browserKeys!.phoneToBrowser, sealed);
    expect(new TextDecoder().decode(opened)).toBe("hello");

    const stored = await runInDurableObject(browser.stub, (_instance, state) => state.storage.sql.exec("SELECT state, account_number FROM session").one());
    expect({ ...stored }).toEqual({ state: "linked", account_number: phone.identity.number });
  });

  it("leaves the browser unlinked when the key confirmation does not verify, and ends the session", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    await phone.inspect(browser.qr());
    await browser.shownNumber();
    // A server or phone that never saw the qrSecret cannot make a valid MAC.
    const forged = await phone.confirm({ ...browser.qr(), qrSecret: randomBase64url(16) });
    expect(forged.account.number).toBe(phone.identity.number);

    const linked = await browser.waitFor("linked");
    expect(await browser.pairing.verifyLinked(browser.sessionId, linked)).toBeNull();
    expect(await browser.pairing.verifyLinked(browser.sessionId, { ...linked, account: { ...linked.account, number: "+15559999999" } })).toBeNull();
    browser.send({ type: "key_mismatch" });
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "key_mismatch" });
    expect((await browser.waitForClose()).code).toBe(CLOSE_CODES.key_mismatch);
  });

  it("accepts a confirmation only from the phone that scanned", async () => {
    const browser = await BrowserClient.open();
    const [phone, other] = [await registeredPhone(), await registeredPhone("Mallory")];
    await expect(phone.confirm(browser.qr())).rejects.toMatchObject({ status: 409, code: "wrong_state" });
    await phone.inspect(browser.qr());
    await expect(other.confirm(browser.qr())).rejects.toMatchObject({ code: "wrong_state" });
    await expect(other.reject(browser.qr())).rejects.toMatchObject({ code: "wrong_state" });
    expect(browser.all("linked")).toHaveLength(0);
  });

  it("refuses a phone key that is not a 32-byte X25519 key", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    await phone.inspect(browser.qr());
    const body = JSON.stringify({ sessionId: browser.sessionId, phonePublicKey: "A".repeat(44), confirmation: randomBase64url(32) });
    const response = await signedPost(phone.identity, "/api/link/confirm", body);
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("invalid_input");
    expect(browser.all("linked")).toHaveLength(0);
  });

  it("ends an unconfirmed scan when the confirmation window passes", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    clock.set(openedAt + 10_000);
    await phone.inspect(browser.qr());
    clock.set(openedAt + 10_000 + 59_000);
    await runDurableObjectAlarm(browser.stub);
    expect(browser.all("ended")).toHaveLength(0);
    clock.set(openedAt + 10_000 + 60_000);
    await runDurableObjectAlarm(browser.stub);
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "expired" });
    await expect(phone.confirm(browser.qr())).rejects.toMatchObject({ code: "session_not_found" });
  });
});

describe("number matching", () => {
  it("shows the browser the number the phone derives, and offers it on the phone among three distinct numbers", async () => {
    for (let i = 0; i < 5; i++) {
      const browser = await BrowserClient.open();
      const { matchingNumber, choices } = await (await registeredPhone()).inspect(browser.qr());
      expect(matchingNumber).toMatch(/^\d{2}$/);
      expect(await browser.shownNumber()).toBe(matchingNumber);
      expect(choices).toHaveLength(3);
      expect(new Set(choices).size).toBe(3);
      expect(choices.filter((choice) => choice === matchingNumber)).toHaveLength(1);
      for (const choice of choices) expect(choice).toMatch(/^\d{2}$/);
    }
  });

  it("ends the session as wrong_number when the phone picks another number, and tells the browser", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    await phone.inspect(browser.qr());
    await phone.reject(browser.qr(), "wrong_number");
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "wrong_number" });
    expect(await browser.waitForClose()).toEqual({ code: CLOSE_CODES.wrong_number, reason: "wrong_number" });
    await expect(phone.confirm(browser.qr())).rejects.toMatchObject({ code: "session_not_found" });
  });

  it("keeps the phone's committed key when the device limit sends the scan back, so the same number still links", async () => {
    const phone = await registeredPhone();
    const linked = [];
    for (let i = 0; i < MAX_LINKED_DEVICES; i++) linked.push(await linkBrowser(phone));
    const fifth = await BrowserClient.open();
    const { matchingNumber } = await phone.inspect(fifth.qr());
    expect(await fifth.shownNumber()).toBe(matchingNumber);
    await expect(phone.confirm(fifth.qr())).rejects.toMatchObject({ code: "device_limit" });
    await phone.revoke(linked[0]!.sessionId);
    await phone.confirm(fifth.qr());
    expect(await fifth.pairing.verifyLinked(fifth.sessionId, await fifth.waitFor("linked"))).not.toBeNull();
  });
});

describe("rejecting a link", () => {
  it("ends the session as rejected so the browser starts a fresh code", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    await phone.inspect(browser.qr());
    await phone.reject(browser.qr());
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "rejected" });
    expect(await browser.waitForClose()).toEqual({ code: CLOSE_CODES.rejected, reason: "rejected" });
    await expect(phone.inspect(browser.qr())).rejects.toMatchObject({ code: "session_not_found" });
  });
});

describe("the browser socket", () => {
  it("closes a malformed or oversized message with a protocol close code", async () => {
    const [garbled, oversized] = [await BrowserClient.open(), await BrowserClient.open()];
    garbled.send("{not json");
    expect((await garbled.waitForClose()).code).toBe(CLOSE_CODES.bad_message);
    oversized.send({ type: "key_mismatch", padding: "x".repeat(LIMITS.relayMessageBytes) });
    expect((await oversized.waitForClose()).code).toBe(CLOSE_CODES.message_too_large);
  });

  it("leaves nothing behind when the tab closes before linking", async () => {
    const browser = await BrowserClient.open();
    browser.socket.close(1000, "tab closed");
    await expect.poll(() => storedTables(browser.stub)).toBe(0);
    expect(await runInDurableObject(browser.stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
  });
});
