import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { CLOSE_CODES } from "../../src/shared/protocol";
import { BrowserClient, clock, registeredPhone, storedSession, storedTables } from "./helpers";

afterEach(() => clock.stop());

/** The object's own tables left (none once its storage is deleted), and whether an alarm is still armed. */
function leftovers(browser: BrowserClient) {
  return runInDurableObject(browser.stub, async (_instance, state) => ({
    tables: state.storage.sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'").one().n,
    alarm: await state.storage.getAlarm(),
  }));
}

describe("token rotation", () => {
  it("shows 6 tokens, the first for 60 s and then 20 s each, then expires and deletes the session", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();
    const first = await browser.waitFor("token");
    expect(first).toMatchObject({ seq: 0, count: 6, expiresAt: openedAt + 60_000 });

    for (let seq = 1; seq < 6; seq++) {
      clock.set(browser.all("token").at(-1)!.expiresAt);
      expect(await runDurableObjectAlarm(browser.stub)).toBe(true);
      const token = await browser.waitFor("token", seq + 1);
      expect(token.seq).toBe(seq);
      expect(token.expiresAt).toBe(openedAt + 60_000 + seq * 20_000);
    }
    const tokens = browser.all("token").map((message) => message.token);
    expect(new Set(tokens).size).toBe(6);
    expect(tokens.every((token) => /^[A-Za-z0-9_-]{22}$/.test(token))).toBe(true);

    clock.set(openedAt + 160_000);
    await runDurableObjectAlarm(browser.stub);
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "expired" });
    expect(await browser.waitForClose()).toEqual({ code: CLOSE_CODES.expired, reason: "expired" });
    expect(await leftovers(browser)).toEqual({ tables: 0, alarm: null });
  });

  it("does not skip or repeat a token when an alarm runs early or twice", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();

    clock.set(openedAt + 30_000);
    await runInDurableObject(browser.stub, (instance) => instance.alarm());
    expect(browser.all("token")).toHaveLength(1);

    clock.set(openedAt + 60_000);
    await runInDurableObject(browser.stub, (instance) => instance.alarm());
    await runInDurableObject(browser.stub, (instance) => instance.alarm());
    await browser.waitFor("token", 2);
    expect(browser.all("token").map((token) => token.seq)).toEqual([0, 1]);
    expect((await leftovers(browser)).alarm).toBe(openedAt + 80_000);
  });

  it("keeps the schedule anchored when an alarm fires late", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();
    clock.set(openedAt + 63_000);
    await runDurableObjectAlarm(browser.stub);
    expect((await browser.waitFor("token", 2)).expiresAt).toBe(openedAt + 80_000);
  });

  it("accepts the previous token for 5 s after a rotation, and not after", async () => {
    const openedAt = clock.start();
    const [early, late] = [await BrowserClient.open(), await BrowserClient.open()];
    const phone = await registeredPhone();
    for (const browser of [early, late]) {
      clock.set(openedAt + 60_000);
      await runDurableObjectAlarm(browser.stub);
      await browser.waitFor("token", 2);
    }
    const previousOf = (browser: BrowserClient) => browser.qr(browser.all("token")[0]!.token);

    clock.set(openedAt + 64_999);
    await expect(phone.inspect(previousOf(early))).resolves.toMatchObject({ browser: "Chrome 156" });

    clock.set(openedAt + 65_000);
    await expect(phone.inspect(previousOf(late))).rejects.toMatchObject({ status: 403, code: "invalid_token" });
    await expect(phone.inspect(late.qr())).resolves.toMatchObject({ os: "Linux" });
  });

  it("keeps a waiting session on its browser's socket, where an object that wakes again reads it back, with no tables", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();
    clock.set(openedAt + 60_000);
    expect(await runDurableObjectAlarm(browser.stub)).toBe(true);

    // A store with nothing in memory, as an object woken from hibernation has, reads the rotated session from the socket.
    const session = await storedSession(browser.stub);
    expect(session).toMatchObject({ state: "pending", tokens: { current: { seq: 1, expiresAt: openedAt + 80_000 }, previous: { expiresAt: openedAt + 60_000 } } });
    expect(session?.state === "pending" && session.tokens.current.token).toBe(browser.all("token")[1]!.token);
    expect(await storedTables(browser.stub)).toBe(0);
    const phone = await registeredPhone();
    await expect(phone.inspect(browser.qr(browser.all("token")[0]!.token))).resolves.toMatchObject({ place: "unknown" });
    // From the scan on, the state is in SQLite.
    expect(await storedSession(browser.stub)).toMatchObject({ state: "scanned", scannedBy: phone.identity.number });
    expect(await storedTables(browser.stub)).toBeGreaterThan(0);
  });

  it("ends a waiting session with its socket when the object is torn down: the browser opens a fresh one, the old code links nothing", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();
    await abortAllDurableObjects();
    await browser.waitForClose();

    clock.set(openedAt + 1_000);
    expect(await storedSession(browser.stub)).toBeNull();
    const phone = await registeredPhone();
    await expect(phone.inspect(browser.qr())).rejects.toMatchObject({ code: "session_not_found" });
    expect(await storedTables(browser.stub)).toBe(0);
  });
});
