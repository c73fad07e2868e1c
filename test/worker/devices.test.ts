import { env, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { randomBase64url } from "../../src/shared/crypto";
import { CLOSE_CODES, MAX_LINKED_DEVICES } from "../../src/shared/protocol";
import { BrowserClient, clock, errorCode, linkedPair, ORIGIN, registeredPhone, resumePath, signedPost, TestSocket, linkBrowser } from "./helpers";

afterEach(() => clock.stop());

const DAY = 24 * 60 * 60 * 1000;

describe("linked devices", () => {
  it("lists each linked browser with its name, place and times", async () => {
    const start = clock.start();
    const phone = await registeredPhone();
    const first = await linkBrowser(phone);
    clock.set(start + 5_000);
    const second = await linkBrowser(phone);
    const devices = await phone.devices();
    expect(devices).toEqual([
      { id: first.sessionId, name: "Chrome 156 on Linux", place: "unknown", linkedAt: start, lastActiveAt: start },
      { id: second.sessionId, name: "Chrome 156 on Linux", place: "unknown", linkedAt: start + 5_000, lastActiveAt: start + 5_000 },
    ]);
  });

  it(`refuses a link past ${MAX_LINKED_DEVICES} devices, naming the limit and what to do`, async () => {
    const phone = await registeredPhone();
    for (let i = 0; i < MAX_LINKED_DEVICES; i++) await linkBrowser(phone);
    const fifth = await BrowserClient.open();
    await phone.inspect(fifth.qr());
    const refusal = await phone.confirm(fifth.qr()).catch((error: unknown) => error as { status: number; code: string; message: string });
    expect(refusal).toMatchObject({ status: 409, code: "device_limit" });
    expect((refusal as { message: string }).message).toMatch(/4 linked devices.*log one out first/);
    expect(fifth.all("linked")).toHaveLength(0);
    expect(await phone.devices()).toHaveLength(MAX_LINKED_DEVICES);
  });

  it("tells the refused browser why, and links it once the phone frees a slot and confirms the same scan again", async () => {
    const phone = await registeredPhone();
    const linked = [];
    for (let i = 0; i < MAX_LINKED_DEVICES; i++) linked.push(await linkBrowser(phone));
    const fifth = await BrowserClient.open();
    await phone.inspect(fifth.qr());
    await expect(phone.confirm(fifth.qr())).rejects.toMatchObject({ code: "device_limit" });
    expect(await fifth.waitFor("refused")).toMatchObject({ type: "refused", code: "device_limit", message: expect.stringMatching(/4 linked devices/) });
    expect(fifth.all("ended")).toHaveLength(0);
    await phone.revoke(linked[0]!.sessionId);
    await phone.confirm(fifth.qr());
    expect(await fifth.waitFor("linked")).toMatchObject({ type: "linked", account: { number: phone.identity.number } });
    expect((await phone.devices()).map((device) => device.id)).toContain(fifth.sessionId);
  });

  it("revokes a device: the browser is told, its resume stops working, the list drops it", async () => {
    const pair = await linkedPair();
    const id = pair.browser.sessionId;
    await pair.phone.revoke(id);
    expect(await pair.browser.waitFor("ended")).toEqual({ type: "ended", reason: "revoked" });
    expect((await pair.browser.waitForClose()).code).toBe(CLOSE_CODES.revoked);
    expect(await pair.phoneSocket.waitFor("ended")).toEqual({ type: "ended", reason: "revoked" });
    expect(await pair.phone.devices()).toEqual([]);
    const resume = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    expect((await resume.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
  });

  it("only revokes this account's own devices", async () => {
    const pair = await linkedPair();
    const other = await registeredPhone("Mallory");
    await expect(other.revoke(pair.browser.sessionId)).rejects.toMatchObject({ status: 404, code: "unknown_device" });
    expect(pair.browser.all("ended")).toHaveLength(0);
  });

  it("ends a link whose browser leaves before registering its device key, freeing its slot", async () => {
    const phone = await registeredPhone();
    const browser = await linkBrowser(phone);
    expect(await phone.devices()).toHaveLength(1);
    browser.socket.close(1000, "tab closed");
    await expect.poll(() => phone.devices()).toEqual([]);
  });

  it("drops a browser that logs out from the phone's list", async () => {
    const pair = await linkedPair();
    expect(await pair.phone.devices()).toHaveLength(1);
    pair.browser.send({ type: "logout" });
    await pair.browser.waitFor("ended");
    await expect.poll(() => pair.phone.devices()).toEqual([]);
  });
});

describe("expiry", () => {
  it("ends a linked browser unused for 30 days as inactive", async () => {
    const start = clock.start();
    const pair = await linkedPair();
    pair.browser.socket.close(1001, "tab closed");
    pair.phoneSocket.socket.close(1001, "phone asleep");
    clock.set(start + 30 * DAY - 1);
    await runDurableObjectAlarm(pair.browser.stub);
    expect(await pair.phone.devices()).toHaveLength(1);
    clock.set(start + 30 * DAY);
    await runDurableObjectAlarm(pair.browser.stub);
    expect(await pair.phone.devices()).toEqual([]);
    const resume = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    expect((await resume.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
  });

  it("ends every linked browser of a phone unseen for 14 days", async () => {
    const start = clock.start();
    const phone = await registeredPhone();
    const browsers = [await linkBrowser(phone), await linkBrowser(phone)];
    const account = env.ACCOUNT.getByName(phone.identity.number);
    clock.set(start + 14 * DAY - 1);
    await runDurableObjectAlarm(account);
    expect(browsers[0]!.all("ended")).toHaveLength(0);
    clock.set(start + 14 * DAY);
    await runDurableObjectAlarm(account);
    for (const browser of browsers) expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "inactive" });
    expect(await phone.devices()).toEqual([]);
  });

  it("keeps the browsers of a phone that keeps coming back", async () => {
    const start = clock.start();
    const phone = await registeredPhone();
    const browser = await linkBrowser(phone);
    clock.set(start + 10 * DAY);
    await phone.devices();
    clock.set(start + 14 * DAY);
    await runDurableObjectAlarm(env.ACCOUNT.getByName(phone.identity.number));
    expect(browser.all("ended")).toHaveLength(0);
  });
});

describe("confirmation with context", () => {
  it("warns when the phone is somewhere else than the browser asking to be linked", async () => {
    const phone = await registeredPhone();
    const near = await BrowserClient.open({ ip: "203.0.113.7", cf: { city: "Lisbon", country: "PT" } });
    const far = await BrowserClient.open({ ip: "203.0.113.8", cf: { city: "Lagos", country: "NG" } });
    const fromLisbon = { cf: { city: "Lisbon", country: "PT" }, headers: { "cf-connecting-ip": "198.51.100.9" } };
    const body = (browser: BrowserClient) => JSON.stringify({ sessionId: browser.sessionId, token: browser.qr().token, phonePublicKey: randomBase64url(32) });
    const inspect = (browser: BrowserClient) => signedPost(phone.identity, "/api/link/inspect", body(browser), fromLisbon);
    expect(await (await inspect(near)).json()).toMatchObject({ place: "Lisbon, PT", placeMismatch: false, placeUnknown: false });
    expect(await (await inspect(far)).json()).toMatchObject({ place: "Lagos, NG", ipPrefix: "203.0.113.x", placeMismatch: true, placeUnknown: false });
  });

  it("returns the browser to a fresh code when the scan is rejected, and the scanned token is dead", async () => {
    const phone = await registeredPhone();
    const browser = await BrowserClient.open();
    const qr = browser.qr();
    await phone.inspect(qr);
    await phone.reject(qr);
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "rejected" });
    const again = await signedPost(phone.identity, "/api/link/inspect", JSON.stringify({ sessionId: qr.sessionId, token: qr.token, phonePublicKey: randomBase64url(32) }));
    expect(await errorCode(again)).toBe("session_not_found");
  });
});
