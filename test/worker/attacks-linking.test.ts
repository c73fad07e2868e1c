// The linking attacks of the security review (issue 13), each replayed
// against the Worker: a QR code's link sent to a victim, a phone key swapped
// after the number was shown, a crafted User-Agent, an unplaced connection,
// and a server that renames the account in `linked`.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { deriveLinkKeys, generateAgreementKeyPair, randomBase64url, signConfirmation } from "../../src/shared/crypto";
import { CLOSE_CODES, formatQrText, parseQrText, type QrPayload } from "../../src/shared/protocol";
import { DEVICE_NAME_LENGTH } from "../../src/worker/device-context";
import { BrowserClient, errorCode, ORIGIN, registeredPhone, signedPost, storedTables, type BrowserConnection } from "./helpers";

function sessionRow(browser: BrowserClient): Promise<Record<string, unknown>> {
  return runInDurableObject(browser.stub, (_instance, state) => ({ ...state.storage.sql.exec("SELECT state, phone_public_key, account_number FROM session").one() }));
}

describe("a QR code's link sent in a message (one-tap hijacking)", () => {
  it("ends the attacker's session when the victim picks a number the attacker's screen shows but the victim cannot see", async () => {
    // The attacker opens the real site and sends its live code as a link.
    const attacker = await BrowserClient.open();
    const link = formatQrText(ORIGIN, attacker.qr());
    const victim = await registeredPhone("Victim");

    const { matchingNumber, choices } = await victim.inspect(parseQrText(link)!);
    expect(await attacker.shownNumber()).toBe(matchingNumber);
    // The victim sees three numbers and no computer; any pick but the one on the attacker's screen ends it.
    const guess = choices.find((choice) => choice !== matchingNumber)!;
    expect(guess).not.toBe(matchingNumber);
    await victim.reject(attacker.qr(), "wrong_number");

    expect(await attacker.waitFor("ended")).toEqual({ type: "ended", reason: "wrong_number" });
    expect((await attacker.waitForClose()).code).toBe(CLOSE_CODES.wrong_number);
    expect(attacker.all("linked")).toHaveLength(0);
    await expect(victim.confirm(attacker.qr())).rejects.toMatchObject({ code: "session_not_found" });
    expect(await victim.devices()).toEqual([]);
    await expect.poll(() => storedTables(attacker.stub)).toBe(0);
  });

  it("takes a wrong-number report only from the phone that scanned, and only while the scan waits", async () => {
    const browser = await BrowserClient.open();
    const [phone, other] = [await registeredPhone(), await registeredPhone("Mallory")];
    await expect(phone.reject(browser.qr(), "wrong_number")).rejects.toMatchObject({ code: "wrong_state" });
    await phone.inspect(browser.qr());
    await expect(other.reject(browser.qr(), "wrong_number")).rejects.toMatchObject({ code: "wrong_state" });
    expect(browser.all("ended")).toHaveLength(0);
    const unknownReason = await signedPost(phone.identity, "/api/link/reject", JSON.stringify({ sessionId: browser.sessionId, reason: "bored" }));
    expect(await errorCode(unknownReason)).toBe("invalid_input");
  });

  it("needs the phone's key with the scan: an inspect without one spends nothing", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    const response = await signedPost(phone.identity, "/api/link/inspect", JSON.stringify({ sessionId: browser.sessionId, token: browser.qr().token }));
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("invalid_input");
    expect(browser.all("scanned")).toHaveLength(0);
    await expect(phone.inspect(browser.qr())).resolves.toMatchObject({ qrCreatedAt: expect.any(Number) });
  });
});

/** A confirm request with a valid MAC by a key the phone did not commit with its scan, as a relaying attacker (who has the qrSecret) could make. */
async function confirmWithOtherKey(qr: QrPayload, number: string, name: string): Promise<{ body: string; phonePublicKey: string }> {
  const other = await generateAgreementKeyPair();
  const keys = (await deriveLinkKeys(other.privateKey, qr.browserPublicKey, qr.qrSecret, qr.sessionId))!;
  const confirmation = await signConfirmation(keys, { sessionId: qr.sessionId, browserPublicKey: qr.browserPublicKey, phonePublicKey: other.publicKey, number, name });
  return { body: JSON.stringify({ sessionId: qr.sessionId, phonePublicKey: other.publicKey, confirmation }), phonePublicKey: other.publicKey };
}

describe("the phone's key is committed when it scans", () => {
  it("refuses a confirm with another key than the one sent with inspect, and still links with the committed one", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone("Alice");
    const { matchingNumber } = await phone.inspect(browser.qr());
    expect(await browser.shownNumber()).toBe(matchingNumber);
    const committed = (await sessionRow(browser)).phone_public_key;
    expect(committed).toBe(browser.all("scanned")[0]!.phonePublicKey);

    const swapped = await confirmWithOtherKey(browser.qr(), phone.identity.number, "Alice");
    const response = await signedPost(phone.identity, "/api/link/confirm", swapped.body);
    expect(response.status).toBe(409);
    expect(await errorCode(response)).toBe("wrong_state");
    expect(await sessionRow(browser)).toEqual({ state: "scanned", phone_public_key: committed, account_number: null });
    expect(browser.all("linked")).toHaveLength(0);

    await phone.confirm(browser.qr());
    const linked = await browser.waitFor("linked");
    expect(linked.phonePublicKey).toBe(committed);
    expect(await browser.pairing.verifyLinked(browser.sessionId, linked)).not.toBeNull();
  });

  it("makes the browser refuse a `linked` whose key is not the one its number came from, even with a valid MAC", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone("Alice");
    await phone.inspect(browser.qr());
    await browser.shownNumber();
    await phone.confirm(browser.qr());
    const linked = await browser.waitFor("linked");
    // A server (or relay) that swaps in another key after the number was shown, with a MAC that key really made.
    const swapped = await confirmWithOtherKey(browser.qr(), phone.identity.number, "Alice");
    const { confirmation } = JSON.parse(swapped.body) as { confirmation: string };
    expect(await browser.pairing.verifyLinked(browser.sessionId, { ...linked, phonePublicKey: swapped.phonePublicKey, confirmation })).toBeNull();
    // And a browser that never showed a number trusts no link at all.
    const unscanned = await BrowserClient.open();
    expect(await unscanned.pairing.verifyLinked(unscanned.sessionId, linked)).toBeNull();
  });
});

describe("the device description comes from the User-Agent, filtered", () => {
  const spoofed: [string, string, BrowserConnection["userAgent"]][] = [
    ["a made-up browser name", "Unknown browser on unknown OS", "Your own phone - safe to link"],
    ["a made-up name in a User-Agent's shape", "Unknown browser on Linux", "Your own phone - safe to link/1.0 (X11; Linux)"],
    ["a 50 KB User-Agent", "Unknown browser on unknown OS", "Your own phone - safe to link ".repeat(1_700)],
    ["a real name with words for a version", "Chrome on Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/SafeToLink Safari/537.36"],
    ["a real name with an absurd version", "Firefox on unknown OS", "Mozilla/5.0 (Your own phone - safe to link) Firefox/999999.1"],
    ["a real browser followed by 50 KB", "Chrome 156 on Linux", `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 ${"x".repeat(50_000)}`],
  ];

  for (const [what, shown, userAgent] of spoofed) {
    it(`reduces ${what} to known names, at most ${DEVICE_NAME_LENGTH} characters: "${shown}"`, async () => {
      const browser = await BrowserClient.open({ userAgent });
      const phone = await registeredPhone();
      const context = await phone.inspect(browser.qr());
      expect(`${context.browser} on ${context.os}`).toBe(shown);
      expect(JSON.stringify(context)).not.toContain("safe to link");
      await phone.confirm(browser.qr());
      await browser.waitFor("linked");
      const [device] = await phone.devices();
      expect(device!.name).toBe(shown);
      expect(device!.name.length).toBeLessThanOrEqual(DEVICE_NAME_LENGTH);
    });
  }
});

describe("where the browser and the phone are", () => {
  async function scanFrom(browserAt: BrowserConnection, phoneCf?: BrowserConnection["cf"]) {
    const browser = await BrowserClient.open(browserAt);
    const phone = await registeredPhone();
    const body = JSON.stringify({ sessionId: browser.sessionId, token: browser.qr().token, phonePublicKey: randomBase64url(32) });
    const response = await signedPost(phone.identity, "/api/link/inspect", body, phoneCf ? { cf: phoneCf } : {});
    expect(response.status).toBe(200);
    return (await response.json()) as { place: string; placeMismatch: boolean; placeUnknown: boolean };
  }
  const lisbon = { city: "Lisbon", region: "Lisbon", country: "PT" };
  const sintra = { city: "Sintra", region: "Lisbon", country: "PT" };
  const porto = { city: "Porto", region: "Porto", country: "PT" };

  it("warns that the place is unknown when the browser's place is unknown", async () => {
    expect(await scanFrom({ ip: "127.0.0.1", cf: lisbon }, lisbon)).toMatchObject({ place: "unknown", placeUnknown: true, placeMismatch: false });
    expect(await scanFrom({ ip: "203.0.113.7", cf: { city: "Lisbon" } }, lisbon)).toMatchObject({ place: "unknown", placeUnknown: true, placeMismatch: false });
  });

  it("warns that the place is unknown when the phone's place is unknown", async () => {
    expect(await scanFrom({ ip: "203.0.113.7", cf: lisbon })).toMatchObject({ place: "Lisbon, PT", placeUnknown: true, placeMismatch: false });
  });

  it("compares country and region, not the city", async () => {
    expect(await scanFrom({ ip: "203.0.113.7", cf: sintra }, lisbon)).toMatchObject({ place: "Sintra, Lisbon, PT", placeUnknown: false, placeMismatch: false });
    expect(await scanFrom({ ip: "203.0.113.7", cf: porto }, lisbon)).toMatchObject({ place: "Porto, PT", placeUnknown: false, placeMismatch: true });
    expect(await scanFrom({ ip: "203.0.113.7", cf: { city: "Lisbon", country: "ES" } }, lisbon)).toMatchObject({ placeUnknown: false, placeMismatch: true });
  });

  it("keeps control characters and long values of the platform's place off the phone's screen", async () => {
    const context = await scanFrom({ ip: "203.0.113.7", cf: { city: `Lisbon\n${"x".repeat(500)}`, country: "PT" } }, lisbon);
    expect(context.place).not.toContain("\n");
    expect(context.place.length).toBeLessThanOrEqual(2 * 40 + 2 + 40 + 2);
  });
});

describe("the account name is bound by the key confirmation", () => {
  it("fails the browser's check when the server changes the name (or the number) in `linked`", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone("Alice");
    await phone.inspect(browser.qr());
    await browser.shownNumber();
    await phone.confirm(browser.qr());
    const linked = await browser.waitFor("linked");
    expect(linked.account.name).toBe("Alice");

    expect(await browser.pairing.verifyLinked(browser.sessionId, { ...linked, account: { ...linked.account, name: "Your bank" } })).toBeNull();
    expect(await browser.pairing.verifyLinked(browser.sessionId, { ...linked, account: { ...linked.account, number: "+15559999999" } })).toBeNull();
    expect(await browser.pairing.verifyLinked(browser.sessionId, linked)).not.toBeNull();
  });

  it("fails it when the server links under another name than the one the phone vouched for", async () => {
    const phone = await registeredPhone("Alice");
    const browser = await BrowserClient.open();
    await phone.inspect(browser.qr());
    await browser.shownNumber();
    // The phone's real confirm request, handed to the session with the account renamed, as a server that altered it would.
    const { body } = await phone.confirmRequest(browser.qr());
    expect(await browser.stub.confirm({ number: phone.identity.number, name: "Bob" }, body.phonePublicKey, body.confirmation)).toMatchObject({ ok: true });
    const linked = await browser.waitFor("linked");
    expect(linked.account).toEqual({ number: phone.identity.number, name: "Bob" });
    expect(await browser.pairing.verifyLinked(browser.sessionId, linked)).toBeNull();
    expect(await browser.pairing.verifyLinked(browser.sessionId, { ...linked, account: { ...linked.account, name: "Alice" } })).not.toBeNull();
  });
});
