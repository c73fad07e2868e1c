// Steps that span the PairingSession and the Account, raced and failed half
// way: whatever happens, no device row outlives its session and no linked
// session lacks one. Also: probes keep no storage, closes complete, the relay
// buffer cannot wedge, and a live link survives a new migration.
import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { generateAgreementKeyPair, randomBase64url } from "../../src/shared/crypto";
import type { AccountInfo } from "../../src/shared/protocol";
import { createFresh, migrate, schemaVersion } from "../../src/worker/migrations";
import { SESSION_MIGRATIONS, SESSION_SCHEMA } from "../../src/worker/pairing-session/schema";
import { BrowserClient, clock, linkedPair, openPhoneSocket, registeredPhone, resumeBrowser, resumePath, storedTables, TestSocket, ORIGIN } from "./helpers";

afterEach(() => clock.stop());

const confirmTimeout = Number(env.CONFIRM_TIMEOUT_MS);

function accountOf(phone: { identity: { number: string; name: string } }): AccountInfo {
  return { number: phone.identity.number, name: phone.identity.name };
}

function deviceRows(number: string): Promise<string[]> {
  return runInDurableObject(env.ACCOUNT.getByName(number), (instance) => instance.devices().map((device) => device.id));
}

function sessionState(stub: DurableObjectStub): Promise<string | null> {
  return runInDurableObject(stub, (_instance, state) => {
    const tables = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'session'").toArray();
    return tables.length === 0 ? null : ((state.storage.sql.exec("SELECT state FROM session").toArray()[0]?.state as string | undefined) ?? null);
  });
}

/** A confirmation the session will accept: the key-agreement half the phone committed with its scan (a fresh one by default), and a MAC it cannot check (the browser does). */
async function proof(committed?: string): Promise<{ phonePublicKey: string; confirmation: string }> {
  return { phonePublicKey: committed ?? (await generateAgreementKeyPair()).publicKey, confirmation: randomBase64url(32) };
}

/**
 * Makes the session's next `times` calls of an Account method fail on the way:
 * the call is lost, or (`afterRunning`) it ran and its reply was lost. The
 * session sees the Account through its env, which is swapped for one whose
 * stubs fail.
 */
async function failAccountCall(stub: DurableObjectStub, method: "addDevice" | "removeDevice", times: number, afterRunning = false): Promise<void> {
  await runInDurableObject(stub, (instance) => {
    const parts = (instance as unknown as { parts: { env: Env } }).parts;
    let left = times;
    const accounts = {
      getByName(number: string) {
        const real = env.ACCOUNT.getByName(number) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
        return new Proxy(real, {
          get(target, property) {
            if (property !== method) return target[property as string];
            return async (...args: unknown[]) => {
              if (left <= 0) return target[method]!(...args);
              left -= 1;
              if (afterRunning) await target[method]!(...args);
              throw new Error(`injected: ${method} failed`);
            };
          },
        });
      },
    };
    parts.env = { ...parts.env, ACCOUNT: accounts as unknown as Env["ACCOUNT"] };
  });
}

async function scannedSession() {
  const browser = await BrowserClient.open();
  const phone = await registeredPhone();
  await phone.inspect(browser.qr());
  const { phonePublicKey } = await browser.waitFor("scanned");
  return { browser, phone, committed: phonePublicKey };
}

describe("confirming a scan", () => {
  it("links once when two confirmations race: one device row, one linked session", async () => {
    const { browser, phone, committed } = await scannedSession();
    const confirm = async (): Promise<{ ok: boolean; code?: string }> => {
      const p = await proof(committed);
      const outcome = await browser.stub.confirm(accountOf(phone), p.phonePublicKey, p.confirmation);
      return outcome.ok ? { ok: true } : { ok: false, code: outcome.code };
    };
    const [first, second] = await Promise.all([confirm(), confirm()]);
    expect([first.ok, second.ok].sort()).toEqual([false, true]);
    expect([first, second].find((outcome) => !outcome.ok)).toMatchObject({ code: "wrong_state" });
    await browser.waitFor("linked");
    expect(browser.all("linked")).toHaveLength(1);
    expect(await deviceRows(phone.identity.number)).toEqual([browser.sessionId]);
    expect(await sessionState(browser.stub)).toBe("linked");
  });

  it("links after an addDevice whose reply was lost: the outbox retries it, and the phone's retry is answered", async () => {
    const start = clock.start();
    const { browser, phone, committed } = await scannedSession();
    await failAccountCall(browser.stub, "addDevice", 1, true);
    const p = await proof(committed);
    const failed = await browser.stub.confirm(accountOf(phone), p.phonePublicKey, p.confirmation);
    expect(failed).toMatchObject({ ok: false, code: "unavailable" });
    expect(await sessionState(browser.stub)).toBe("confirming");
    expect(browser.all("linked")).toHaveLength(0);

    clock.set(start + 1_000);
    await runDurableObjectAlarm(browser.stub);
    await browser.waitFor("linked");
    expect(await deviceRows(phone.identity.number)).toEqual([browser.sessionId]);
    // The phone, told 503, confirms again with the same proof: it is told the link stands.
    expect(await browser.stub.confirm(accountOf(phone), p.phonePublicKey, p.confirmation)).toMatchObject({ ok: true });
    expect(browser.all("linked")).toHaveLength(1);
  });

  it("leaves no device row when the Account fails until the confirmation deadline", async () => {
    const start = clock.start();
    const { browser, phone, committed } = await scannedSession();
    await failAccountCall(browser.stub, "addDevice", 100, true);
    const p = await proof(committed);
    expect(await browser.stub.confirm(accountOf(phone), p.phonePublicKey, p.confirmation)).toMatchObject({ ok: false });
    // The row went in, but the session never heard: a ghost unless the end takes it out again.
    expect(await deviceRows(phone.identity.number)).toEqual([browser.sessionId]);

    clock.set(start + confirmTimeout + 1);
    await runDurableObjectAlarm(browser.stub);
    expect(await browser.waitForClose()).toMatchObject({ code: 4001 });
    expect(await deviceRows(phone.identity.number)).toEqual([]);
    expect(await sessionState(browser.stub)).toBeNull();
  });

  it("takes back the device slot when the browser leaves while the confirmation is unsettled", async () => {
    const { browser, phone, committed } = await scannedSession();
    await failAccountCall(browser.stub, "addDevice", 1, true);
    const p = await proof(committed);
    await browser.stub.confirm(accountOf(phone), p.phonePublicKey, p.confirmation);
    browser.socket.close(1000, "tab closed");
    await expect.poll(() => sessionState(browser.stub)).toBeNull();
    expect(await deviceRows(phone.identity.number)).toEqual([]);
  });
});

describe("ending a link", () => {
  it("tells the phone and the browser why, and a stranger waiting on a challenge nothing", async () => {
    const pair = await linkedPair();
    const stranger = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    await stranger.waitFor("challenge");
    await pair.phone.revoke(pair.browser.sessionId);
    expect(await pair.browser.waitForClose()).toMatchObject({ code: 4005 });
    expect(await pair.phoneSocket.waitFor("ended")).toEqual({ type: "ended", reason: "revoked" });
    expect(await stranger.waitForClose()).toMatchObject({ code: 4404 });
    expect(stranger.all("ended")).toEqual([]);
  });

  it("keeps the session until the Account has removed its device row, retrying a failed call", async () => {
    const start = clock.start();
    const pair = await linkedPair();
    const number = pair.phone.identity.number;
    await failAccountCall(pair.browser.stub, "removeDevice", 1);
    pair.browser.send({ type: "logout" });
    expect(await pair.browser.waitForClose()).toMatchObject({ code: 4004 });
    // Ended for both sides at once; the row waits for the retry, and the session row for the row.
    await expect.poll(() => sessionState(pair.browser.stub)).toBe("ended");
    expect(await deviceRows(number)).toEqual([pair.browser.sessionId]);

    clock.set(start + 1_000);
    await runDurableObjectAlarm(pair.browser.stub);
    expect(await deviceRows(number)).toEqual([]);
    expect(await sessionState(pair.browser.stub)).toBeNull();
    expect(await runInDurableObject(pair.browser.stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
  });
});

describe("probes", () => {
  it("of a session that does not exist leave no storage behind", async () => {
    const phone = await registeredPhone();
    const sessionId = randomBase64url(16);
    const stub = env.PAIRING_SESSION.getByName(sessionId);
    const resume = await TestSocket.connect(`/api/sessions/${sessionId}/browser`, { origin: ORIGIN });
    expect(await resume.waitForClose()).toMatchObject({ code: 4404 });
    const relay = await openPhoneSocket(phone, { sessionId });
    expect(await relay.waitForClose()).toMatchObject({ code: 4404 });
    const p = await proof();
    expect(await stub.inspect(randomBase64url(16), phone.identity.number, { country: null, region: null, label: "unknown" }, p.phonePublicKey)).toMatchObject({ code: "session_not_found" });
    expect(await stub.confirm(accountOf(phone), p.phonePublicKey, p.confirmation)).toMatchObject({ code: "session_not_found" });
    expect(await stub.reject(phone.identity.number)).toMatchObject({ code: "session_not_found" });
    await stub.endLink("revoked");
    await runDurableObjectAlarm(stub);

    expect(await storedTables(stub)).toBe(0);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
  });

  it("of a session that ended find nothing and write nothing", async () => {
    const pair = await linkedPair();
    pair.browser.send({ type: "logout" });
    await pair.browser.waitForClose();
    await expect.poll(() => storedTables(pair.browser.stub)).toBe(0);
    const resume = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    expect(await resume.waitForClose()).toMatchObject({ code: 4404 });
    expect(await storedTables(pair.browser.stub)).toBe(0);
  });
});

describe("closing", () => {
  it("answers a close the client starts, for the browser and the phone", async () => {
    const pair = await linkedPair();
    pair.phoneSocket.socket.close(1000, "phone going away");
    expect(await pair.phoneSocket.waitForClose()).toMatchObject({ code: 1000 });
    pair.browser.socket.close(1000, "tab closing");
    expect(await pair.browser.waitForClose()).toMatchObject({ code: 1000 });
  });
});

describe("the relay buffer", () => {
  it("never wedges: frames ahead of a gap leave room for the frame that fills it", async () => {
    const pair = await linkedPair();
    pair.browser.socket.close(1000, "away");
    const data = "A".repeat(60_000);
    for (let seq = 2; seq <= 140; seq++) pair.phoneSocket.send({ type: "frame", seq, data });
    await pair.phoneSocket.until(() => pair.phoneSocket.all("error").length > 0, "a refusal");
    pair.phoneSocket.send({ type: "frame", seq: 1, data });
    const stored = await pair.phoneSocket.waitFor("stored");
    expect(stored.seq).toBeGreaterThan(100);

    // The browser comes back, takes what is held; the refused frames go again and arrive too.
    const browser = await resumeBrowser(pair.browser, pair.deviceKey);
    await browser.until(() => browser.all("frame").length === stored.seq, "the held frames");
    browser.send({ type: "ack", seq: stored.seq });
    // The room the ack frees is there once the phone is told `delivered` (on another socket, the frames could overtake the ack).
    await pair.phoneSocket.waitFor("delivered");
    for (let seq = stored.seq + 1; seq <= 140; seq++) pair.phoneSocket.send({ type: "frame", seq, data });
    await browser.until(() => browser.all("frame").length === 140, "every frame");
    expect(browser.all("frame").map((frame) => frame.seq)).toEqual(Array.from({ length: 140 }, (_, index) => index + 1));
  });
});

/** An object's own tables and indexes as SQLite keeps them, the statements with their spacing and quoting evened out (a renamed table's name is quoted). */
/** The object's schema version and its tables, compared as SQL without spacing, quotes or comments; `_migration` (a record, not the schema) left out. */
function schemaOf(state: DurableObjectState) {
  const rows = state.storage.sql
    .exec<{ type: string; name: string; sql: string | null }>("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name != '_migration' ORDER BY name")
    .toArray();
  const even = (sql: string | null) =>
    sql
      ?.replace(/\/\*.*?\*\//g, "")
      .replace(/\s+/g, " ")
      .replace(/\s*([(),])\s*/g, "$1")
      .replaceAll('"', "")
      .trim() ?? null;
  return { version: schemaVersion(state.storage), objects: rows.map((row) => ({ ...row, sql: even(row.sql) })) };
}

/** The relay's frames as the frame store reads each direction (frame-store.ts), and the frame tables left. */
function framesByDirection(sql: SqlStorage) {
  return {
    toBrowser: sql.exec("SELECT id AS seq, data FROM relay_frame WHERE id > 0 ORDER BY id").toArray(),
    toPhone: sql.exec("SELECT -id AS seq, data FROM relay_frame WHERE id < 0 ORDER BY id DESC").toArray(),
    frameTables: sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%frame%' ORDER BY name").toArray().map((row) => row.name),
  };
}

/** A new session object brought to `version`, given data as that version kept it by `seed`, then migrated to the latest: the version it reached and what `read` finds. */
function migratedWithData<T extends object>(version: number, seed: (sql: SqlStorage) => void, read: (sql: SqlStorage) => T, upTo = SESSION_MIGRATIONS.length): Promise<T & { version: number }> {
  return runInDurableObject(env.PAIRING_SESSION.getByName(`v${version}-${randomBase64url(8)}`), (_instance, state) => {
    migrate(state.storage, SESSION_MIGRATIONS.slice(0, version));
    seed(state.storage.sql);
    return { version: migrate(state.storage, SESSION_MIGRATIONS.slice(0, upTo)), ...read(state.storage.sql) };
  });
}

describe("migrations", () => {
  it("create a new session's schema in one step, the same as every migration run in turn", async () => {
    const fresh = await runInDurableObject(env.PAIRING_SESSION.getByName(`fresh-${randomBase64url(8)}`), (_instance, state) => {
      createFresh(state.storage, SESSION_SCHEMA);
      return schemaOf(state);
    });
    const migrated = await runInDurableObject(env.PAIRING_SESSION.getByName(`migrated-${randomBase64url(8)}`), (_instance, state) => {
      migrate(state.storage, SESSION_MIGRATIONS);
      return schemaOf(state);
    });
    expect(fresh.objects.map((object) => object.name)).toEqual(["relay_frame", "session"]);
    expect(fresh).toEqual(migrated);
    expect(fresh.version).toBe(SESSION_MIGRATIONS.at(-1)!.version);
  });

  it("keep a fresh schema's version in its own text: no table or row is written for it, and asking writes nothing", async () => {
    const written = await runInDurableObject(env.PAIRING_SESSION.getByName(`fresh-${randomBase64url(8)}`), (_instance, state) => {
      createFresh(state.storage, SESSION_SCHEMA);
      const tables = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name").toArray().map((row) => row.name);
      return { tables, version: schemaVersion(state.storage), again: migrate(state.storage, SESSION_MIGRATIONS), tablesAfter: state.storage.sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name = '_migration'").one().n };
    });
    expect(written).toEqual({ tables: ["relay_frame", "session"], version: SESSION_SCHEMA.version, again: SESSION_SCHEMA.version, tablesAfter: 0 });
  });

  it("carry a version 4 session's outbox over: its removal stays in the outbox, its owed device slot moves into the session row", async () => {
    const carried = await migratedWithData(4, (sql) => {
      sql.exec("INSERT INTO session (id, session_id, state, created_at, device) VALUES (1, 'old-session', 'confirming', 1, '{}')");
      sql.exec("INSERT INTO outbox (kind, account_number, attempts, due_at) VALUES ('add_device', '+15550001', 2, 5000), ('remove_device', '+15550002', 1, 7000)");
    }, (sql) => ({
      session: sql.exec("SELECT state, add_device_attempts, add_device_due_at FROM session").toArray(),
      outbox: sql.exec("SELECT kind, account_number, attempts, due_at FROM outbox").toArray(),
      keyedOnly: sql.exec("SELECT sql FROM sqlite_master WHERE name = 'outbox'").one().sql,
    }), 6);
    expect(carried.version).toBe(6);
    expect(carried.session).toEqual([{ state: "confirming", add_device_attempts: 2, add_device_due_at: 5000 }]);
    expect(carried.outbox).toEqual([{ kind: "remove_device", account_number: "+15550002", attempts: 1, due_at: 7000 }]);
    expect(carried.keyedOnly).toContain("WITHOUT ROWID");
  });

  it("carry a version 6 session's owed removal into its row: the Account's device row is removed, then the session's storage goes", async () => {
    const phone = await registeredPhone();
    const number = phone.identity.number;
    const stub = env.PAIRING_SESSION.getByName(`v6-${randomBase64url(8)}`);
    const sessionId = await runInDurableObject(stub, async (_instance, state) => {
      const sql = state.storage.sql;
      migrate(state.storage, SESSION_MIGRATIONS.slice(0, 6));
      // A linked session of the previous deploy that ended (revoked from the phone while the Account was down): its removal waits in the outbox.
      sql.exec("INSERT INTO session (id, session_id, state, created_at, device, account_number, end_reason) VALUES (1, 'v6-session', 'ended', 1, '{}', ?, 'logged_out')", number);
      sql.exec("INSERT INTO outbox (kind, account_number, attempts, due_at) VALUES ('remove_device', ?, 3, 7000)", number);
      await state.storage.setAlarm(Date.now() + 3_600_000);
      return "v6-session";
    });
    await env.ACCOUNT.getByName(number).addDevice({ id: sessionId, name: "Chrome on Linux", place: "unknown", linkedAt: 1, lastActiveAt: 1 });
    expect(await deviceRows(number)).toEqual([sessionId]);

    // The object's first read finds the old database: migration 7 moves the debt into the row, and drops the outbox.
    const migrated = await runInDurableObject(stub, (instance, state) => {
      const session = (instance as unknown as { parts: { store: { session(): unknown; outbox(): unknown } } }).parts.store;
      return {
        session: session.session(),
        outbox: session.outbox(),
        tables: state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name").toArray().map((row) => row.name),
      };
    });
    expect(migrated.tables).toEqual(["_migration", "relay_frame", "session"]);
    expect(migrated.session).toMatchObject({ state: "ended", reason: "logged_out", removeDevice: { accountNumber: number, attempts: 3, dueAt: 7000 } });
    expect(migrated.outbox).toEqual([{ kind: "remove_device", accountNumber: number, attempts: 3, dueAt: 7000 }]);

    // The alarm makes the owed call: the row goes from the Account, then the session's storage.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await deviceRows(number)).toEqual([]);
    expect(await storedTables(stub)).toBe(0);
  });

  it("carry a version 6 session's relay frames over: each direction's frames, in order, nothing lost, the old table gone", async () => {
    const carried = await migratedWithData(6, (sql) => {
      sql.exec("INSERT INTO session (id, session_id, state, created_at, device, to_browser_received, to_phone_received) VALUES (1, 'old-session', 'linked', 1, '{}', 3, 2)");
      sql.exec("INSERT INTO frame (direction, seq, data) VALUES ('to_browser', 3, 'CCCC'), ('to_phone', 1, 'PPPP'), ('to_browser', 2, 'BBBB'), ('to_phone', 2, 'QQQQ'), ('to_browser', 5, 'EEEE')");
    }, framesByDirection);
    expect(carried.version).toBe(SESSION_MIGRATIONS.length);
    expect(carried.toBrowser).toEqual([
      { seq: 2, data: "BBBB" },
      { seq: 3, data: "CCCC" },
      { seq: 5, data: "EEEE" },
    ]);
    expect(carried.toPhone).toEqual([
      { seq: 1, data: "PPPP" },
      { seq: 2, data: "QQQQ" },
    ]);
    expect(carried.frameTables).toEqual(["relay_frame"]);
  });

  it("carry a version 8 session's two frame tables into the one table, and the relay reads them back per direction", async () => {
    const carried = await migratedWithData(8, (sql) => {
      sql.exec("INSERT INTO session (id, session_id, state, created_at, device, to_browser_received, to_phone_received) VALUES (1, 'old-session', 'linked', 1, '{}', 4, 3)");
      sql.exec("INSERT INTO frame_to_browser (seq, data) VALUES (4, 'DDDD'), (1, 'AAAA'), (7, 'GGGG')");
      sql.exec("INSERT INTO frame_to_phone (seq, data) VALUES (3, 'ZZZZ'), (1, 'XXXX')");
    }, framesByDirection);
    expect(carried.version).toBe(SESSION_MIGRATIONS.length);
    expect(carried.toBrowser).toEqual([
      { seq: 1, data: "AAAA" },
      { seq: 4, data: "DDDD" },
      { seq: 7, data: "GGGG" },
    ]);
    expect(carried.toPhone).toEqual([
      { seq: 1, data: "XXXX" },
      { seq: 3, data: "ZZZZ" },
    ]);
    expect(carried.frameTables).toEqual(["relay_frame"]);
  });

  it("run on a freshly created schema only the migrations that came after it", async () => {
    const added = { version: SESSION_MIGRATIONS.length + 1, name: "test: a column added later", sql: "ALTER TABLE session ADD COLUMN added_later TEXT" };
    const versions = await runInDurableObject(env.PAIRING_SESSION.getByName(`fresh-${randomBase64url(8)}`), (_instance, state) => {
      createFresh(state.storage, SESSION_SCHEMA);
      return [migrate(state.storage, SESSION_MIGRATIONS), migrate(state.storage, [...SESSION_MIGRATIONS, added]), state.storage.sql.exec("SELECT version FROM _migration").toArray().map((row) => row.version), schemaVersion(state.storage)];
    });
    // `_migration` starts with the first migration the object runs.
    expect(versions).toEqual([SESSION_SCHEMA.version, added.version, [added.version], added.version]);
  });

  it("bring a live linked session forward: a new migration runs once and the link keeps working", async () => {
    const pair = await linkedPair();
    const added = { version: SESSION_MIGRATIONS.length + 1, name: "test: a column added later", sql: "ALTER TABLE session ADD COLUMN added_later TEXT" };
    const versions = await runInDurableObject(pair.browser.stub, (_instance, state) => [
      migrate(state.storage, [...SESSION_MIGRATIONS, added]),
      migrate(state.storage, [...SESSION_MIGRATIONS, added]),
    ]);
    expect(versions).toEqual([added.version, added.version]);

    pair.phoneSocket.send({ type: "frame", seq: 1, data: "AAAA" });
    expect(await pair.browser.waitFor("frame")).toMatchObject({ seq: 1 });
    const reloaded = await resumeBrowser(pair.browser, pair.deviceKey);
    expect(await reloaded.waitFor("frame")).toMatchObject({ seq: 1 });
  });

  it("adopt a session created before migrations existed, with the frame it holds", async () => {
    const pair = await linkedPair();
    pair.phoneSocket.send({ type: "frame", seq: 1, data: "AAAA" });
    await pair.phoneSocket.waitFor("stored");
    // As a session from the previous deploy: version 1's tables as they were (no later columns, one frame table, no version kept anywhere), holding today's row and frame.
    await runInDurableObject(pair.browser.stub, (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("ALTER TABLE session RENAME TO session_now");
      sql.exec(SESSION_MIGRATIONS[0]!.sql);
      const columns = sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('session')").toArray().map((column) => column.name).join(", ");
      sql.exec(`INSERT INTO session (${columns}) SELECT ${columns} FROM session_now`);
      sql.exec("DROP TABLE session_now");
      sql.exec("INSERT INTO frame (direction, seq, data) SELECT 'to_browser', id, data FROM relay_frame WHERE id > 0");
      sql.exec("DROP TABLE relay_frame");
      expect(schemaVersion(state.storage)).toBe(0);
    });
    await abortAllDurableObjects();
    const reloaded = await resumeBrowser(pair.browser, pair.deviceKey);
    // The frame the browser had not acknowledged came through the migrations.
    expect(await reloaded.waitFor("frame")).toEqual({ type: "frame", seq: 1, data: "AAAA" });
    reloaded.send({ type: "logout" });
    expect(await reloaded.waitForClose()).toMatchObject({ code: 4004 });
    expect(await deviceRows(pair.phone.identity.number)).toEqual([]);
  });
});
