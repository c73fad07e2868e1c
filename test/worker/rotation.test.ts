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

/** The token messages a browser was sent, as seq → window (offsets from `from`). */
function windows(browser: BrowserClient, from: number) {
  return browser.all("token").map(({ seq, startsAt, expiresAt }) => ({ seq, startsAt: startsAt - from, expiresAt: expiresAt - from }));
}

describe("token rotation", () => {
  it("hands the browser 6 tokens at once, the first shown for 60 s and then 20 s each; expires at the end and deletes the session", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();
    expect(windows(browser, openedAt).sort((a, b) => a.seq - b.seq)).toEqual(
      [0, 60_000, 80_000, 100_000, 120_000, 140_000].map((startsAt, seq) => ({ seq, startsAt, expiresAt: seq === 0 ? 60_000 : startsAt + 20_000 })),
    );
    // The one on screen now comes last, so a page that shows each token as it arrives shows it.
    expect(browser.all("token").at(-1)).toMatchObject({ seq: 0, count: 6 });
    const tokens = browser.all("token").map((message) => message.token);
    expect(new Set(tokens).size).toBe(6);
    expect(tokens.every((token) => /^[A-Za-z0-9_-]{22}$/.test(token))).toBe(true);
    // The object is not woken to rotate: its one alarm is the end of the schedule.
    expect((await leftovers(browser)).alarm).toBe(openedAt + 160_000);

    clock.set(openedAt + 160_000);
    await runDurableObjectAlarm(browser.stub);
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "expired" });
    expect(await browser.waitForClose()).toEqual({ code: CLOSE_CODES.expired, reason: "expired" });
    expect(await leftovers(browser)).toEqual({ tables: 0, alarm: null });
  });

  it("ends nothing when its alarm runs early or twice", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();
    clock.set(openedAt + 30_000);
    await runInDurableObject(browser.stub, (instance) => instance.alarm());
    await runInDurableObject(browser.stub, (instance) => instance.alarm());
    expect(browser.all("ended")).toHaveLength(0);
    expect((await leftovers(browser)).alarm).toBe(openedAt + 160_000);
    const phone = await registeredPhone();
    await expect(phone.inspect(browser.qr())).resolves.toMatchObject({ qrCreatedAt: openedAt });
  });

  it("accepts each token in its window: not before it opens, and for 5 s after it closes", async () => {
    const openedAt = clock.start();
    const [early, late, eager] = [await BrowserClient.open(), await BrowserClient.open(), await BrowserClient.open()];
    const phone = await registeredPhone();
    const tokenOf = (browser: BrowserClient, seq: number) => browser.qr(browser.token(seq));

    clock.set(openedAt + 59_999);
    await expect(phone.inspect(tokenOf(eager, 1))).rejects.toMatchObject({ status: 403, code: "invalid_token" });

    clock.set(openedAt + 64_999);
    await expect(phone.inspect(tokenOf(early, 0))).resolves.toMatchObject({ browser: "Chrome 156" });

    clock.set(openedAt + 65_000);
    await expect(phone.inspect(tokenOf(late, 0))).rejects.toMatchObject({ status: 403, code: "invalid_token" });
    expect(late.onScreen().seq).toBe(1);
    await expect(phone.inspect(late.qr())).resolves.toMatchObject({ os: "Linux" });
  });

  it("keeps a waiting session on its browser's socket, where an object that wakes again reads it back, with no tables", async () => {
    const openedAt = clock.start();
    const browser = await BrowserClient.open();

    // A store with nothing in memory, as an object woken from hibernation has, reads the session from the socket.
    const session = await storedSession(browser.stub);
    expect(session).toMatchObject({ state: "pending", tokens: { from: openedAt } });
    expect(session?.state === "pending" && session.tokens.tokens.map((token) => token.token).sort()).toEqual(browser.all("token").map((token) => token.token).sort());
    expect(await storedTables(browser.stub)).toBe(0);
    clock.set(openedAt + 61_000);
    const phone = await registeredPhone();
    await expect(phone.inspect(browser.qr())).resolves.toMatchObject({ place: "unknown" });
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
