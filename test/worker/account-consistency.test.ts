// The Account on its own and across to the PairingSession: probes keep no
// storage; a revoke or a 14-day sweep whose session does not answer keeps the
// device and its link (never one without the other) and a retry ends both;
// and a registered account survives a new migration.
import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { Phone } from "../../src/clients/phone-core/phone";
import { generateIdentityKeyPair, randomBase64url } from "../../src/shared/crypto";
import { SWEEP_RETRY_MS } from "../../src/worker/account/account";
import { ACCOUNT_MIGRATIONS } from "../../src/worker/account/migrations";
import { migrate } from "../../src/worker/migrations";
import { clock, errorCode, linkedPair, ORIGIN, phoneFetch, randomNumber, registeredPhone, resumePath, signedPost, TestSocket, linkBrowser } from "./helpers";

afterEach(() => clock.stop());

const DAY = 24 * 60 * 60 * 1000;

const accountStub = (number: string) => env.ACCOUNT.getByName(number);

/** What an Account object holds: its tables (not the runtime's `_cf_*`), the database's size and its alarm. */
function storageOf(number: string) {
  return runInDurableObject(accountStub(number), async (_instance, state) => ({
    tables: state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name")
      .toArray()
      .map((row) => row.name),
    databaseSize: state.storage.sql.databaseSize,
    alarm: await state.storage.getAlarm(),
  }));
}

/** The Account's device rows, read in the object (not through a signed request, which would count as the phone being seen). */
function deviceRows(number: string): Promise<string[]> {
  return runInDurableObject(accountStub(number), (instance) => instance.devices().map((device) => device.id));
}

/**
 * Makes `endLink` fail for the sessions in the returned set, as seen by this
 * Account: its `env` gets a PairingSession namespace that throws for them.
 * Emptying the set lets the calls through again.
 */
async function failEndLink(number: string, sessionIds: string[]): Promise<Set<string>> {
  const failing = new Set(sessionIds);
  await runInDurableObject(accountStub(number), (instance) => {
    const holder = instance as unknown as { env: Env };
    const sessions = holder.env.PAIRING_SESSION;
    const getByName = (id: string) =>
      failing.has(id)
        ? {
            endLink: async () => {
              throw new Error("injected: endLink failed");
            },
          }
        : sessions.getByName(id);
    holder.env = { ...holder.env, PAIRING_SESSION: { getByName } as unknown as Env["PAIRING_SESSION"] };
  });
  return failing;
}

describe("probes of an account", () => {
  it("leave no storage: a signed request for an unknown number, and every call on an object without an account", async () => {
    const untouched = await storageOf(randomNumber());
    expect(untouched.tables).toEqual([]);

    const number = randomNumber();
    const stranger = new Phone(ORIGIN, { number, name: "Nobody", ...(await generateIdentityKeyPair(false)) }, phoneFetch());
    await expect(stranger.devices()).rejects.toMatchObject({ status: 401, code: "unknown_account" });
    const inspect = await signedPost(stranger.identity, "/api/link/inspect", JSON.stringify({ sessionId: randomBase64url(16), token: randomBase64url(16) }));
    expect(await errorCode(inspect)).toBe("unknown_account");

    const stub = accountStub(number);
    const sessionId = randomBase64url(16);
    expect(await stub.devices()).toEqual([]);
    expect(await stub.revokeDevice(sessionId)).toMatchObject({ ok: false, code: "unknown_account" });
    expect(await stub.addDevice({ id: sessionId, name: "Chrome on Linux", place: "unknown", linkedAt: 1, lastActiveAt: 1 })).toMatchObject({
      ok: false,
      code: "unknown_account",
    });
    await stub.removeDevice(sessionId);
    await stub.touchDevice(sessionId, Date.now());
    await runInDurableObject(stub, (instance) => instance.alarm());

    expect(await storageOf(number)).toEqual(untouched);
  });
});

describe("revoking a device", () => {
  it("keeps the device and its link when the session does not answer, and a retry ends both", async () => {
    const pair = await linkedPair();
    const number = pair.phone.identity.number;
    const id = pair.browser.sessionId;
    const failing = await failEndLink(number, [id]);

    await expect(pair.phone.revoke(id)).rejects.toMatchObject({ status: 503, code: "unavailable" });
    expect(await deviceRows(number)).toEqual([id]);
    // Still linked: nothing ended, and the relay carries a frame.
    pair.phoneSocket.send({ type: "frame", seq: 1, data: "AAAA" });
    expect(await pair.browser.waitFor("frame")).toMatchObject({ seq: 1 });
    expect(pair.browser.all("ended")).toHaveLength(0);

    failing.clear();
    await pair.phone.revoke(id);
    expect(await pair.browser.waitFor("ended")).toEqual({ type: "ended", reason: "revoked" });
    expect(await deviceRows(number)).toEqual([]);
    const resume = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    expect((await resume.waitForClose()).code).toBe(4404);
  });
});

describe("the 14-day sweep", () => {
  it("keeps a link whose session does not answer, tries again in a minute, and then ends it", async () => {
    const start = clock.start();
    const phone = await registeredPhone();
    const number = phone.identity.number;
    const stuck = await linkBrowser(phone);
    const other = await linkBrowser(phone);
    const failing = await failEndLink(number, [stuck.sessionId]);

    clock.set(start + 14 * DAY);
    await runDurableObjectAlarm(accountStub(number));
    expect(await other.waitFor("ended")).toEqual({ type: "ended", reason: "inactive" });
    expect(stuck.all("ended")).toHaveLength(0);
    expect(await deviceRows(number)).toEqual([stuck.sessionId]);
    expect((await storageOf(number)).alarm).toBe(start + 14 * DAY + SWEEP_RETRY_MS);

    failing.clear();
    clock.set(start + 14 * DAY + SWEEP_RETRY_MS);
    await runDurableObjectAlarm(accountStub(number));
    expect(await stuck.waitFor("ended")).toEqual({ type: "ended", reason: "inactive" });
    expect(await deviceRows(number)).toEqual([]);
    // Nothing left to do: no alarm until the phone is seen again.
    expect((await storageOf(number)).alarm).toBeNull();
  });
});

describe("account migrations", () => {
  it("bring a registered account forward: a new migration runs once, and requests still verify and list the devices", async () => {
    const { phone, browser } = await linkedPair();
    const number = phone.identity.number;
    const added = { version: ACCOUNT_MIGRATIONS.length + 1, name: "test: a column added later", sql: "ALTER TABLE device ADD COLUMN added_later TEXT" };
    const versions = await runInDurableObject(accountStub(number), (_instance, state) => [
      migrate(state.storage, [...ACCOUNT_MIGRATIONS, added]),
      migrate(state.storage, [...ACCOUNT_MIGRATIONS, added]),
    ]);
    expect(versions).toEqual([added.version, added.version]);
    await abortAllDurableObjects();

    expect((await phone.devices()).map((device) => device.id)).toEqual([browser.sessionId]);
    // The replay check still has its table: the same signed request is accepted once.
    const body = JSON.stringify({ sessionId: randomBase64url(16), token: randomBase64url(16), phonePublicKey: randomBase64url(32) });
    const timestamp = Date.now();
    expect(await errorCode(await signedPost(phone.identity, "/api/link/inspect", body, { timestamp }))).toBe("session_not_found");
    expect(await errorCode(await signedPost(phone.identity, "/api/link/inspect", body, { timestamp }))).toBe("replayed_request");
  });

  it("carry a version 2 account's seen requests and devices over into tables kept by their key alone", async () => {
    const carried = await runInDurableObject(accountStub(randomNumber()), (_instance, state) => {
      const sql = state.storage.sql;
      migrate(state.storage, ACCOUNT_MIGRATIONS.slice(0, 2));
      sql.exec("INSERT INTO seen_request (request_hash, expires_at) VALUES ('hash-1', 9000)");
      sql.exec("INSERT INTO device (session_id, name, place, linked_at, last_active_at) VALUES ('session-1', 'Chrome on Linux', 'Lisbon', 1, 2)");
      const version = migrate(state.storage, ACCOUNT_MIGRATIONS);
      return {
        version,
        seen: sql.exec("SELECT request_hash, expires_at FROM seen_request").toArray(),
        devices: sql.exec("SELECT session_id, name, place, linked_at, last_active_at FROM device").toArray(),
        keyedOnly: sql.exec("SELECT name FROM sqlite_master WHERE name IN ('seen_request', 'device') AND sql LIKE '%WITHOUT ROWID%' ORDER BY name").toArray(),
      };
    });
    expect(carried.version).toBe(ACCOUNT_MIGRATIONS.length);
    expect(carried.seen).toEqual([{ request_hash: "hash-1", expires_at: 9000 }]);
    expect(carried.devices).toEqual([{ session_id: "session-1", name: "Chrome on Linux", place: "Lisbon", linked_at: 1, last_active_at: 2 }]);
    expect(carried.keyedOnly).toEqual([{ name: "device" }, { name: "seen_request" }]);
  });

  it("adopt an account created before migrations existed, as it is", async () => {
    const { phone, browser } = await linkedPair();
    const number = phone.identity.number;
    // As an account from the previous deploy: today's version 1 tables (without the later code_session), no migration record.
    await runInDurableObject(accountStub(number), (_instance, state) => {
      state.storage.sql.exec("DROP TABLE _migration");
      state.storage.sql.exec("DROP TABLE code_session");
    });
    await abortAllDurableObjects();

    expect((await phone.devices()).map((device) => device.id)).toEqual([browser.sessionId]);
    const recorded = await runInDurableObject(accountStub(number), (_instance, state) => state.storage.sql.exec("SELECT version FROM _migration").toArray());
    expect(recorded).toEqual(ACCOUNT_MIGRATIONS.map(({ version }) => ({ version })));
  });
});
