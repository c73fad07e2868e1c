// The Account's rows in SQLite, typed. Nothing is created until a phone
// registers: an object that is only asked about (an unknown number's signed
// request, a stray removeDevice) keeps no database at all.
import type { LinkedDevice } from "../../shared/protocol";
import { hasState, migrate } from "../migrations";
import { ACCOUNT_MIGRATIONS } from "./migrations";
import type { SeenRequests } from "./signed-requests";

export type AccountRow = {
  number: string;
  name: string;
  public_key: string;
  phone_seen_at: number;
};

type DeviceRow = {
  session_id: string;
  name: string;
  place: string;
  linked_at: number;
  last_active_at: number;
};

export interface NewAccount {
  number: string;
  name: string;
  publicKey: string;
}

export class AccountStore implements SeenRequests {
  /** Set once this instance has brought an existing database up to date, so later calls skip the check. */
  private ready = false;

  constructor(private readonly storage: DurableObjectStorage) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /**
   * Whether this object has a database. An existing one (even from before
   * migrations) is migrated first, so reads see the current schema; an empty
   * object is left as it is: asking writes nothing.
   */
  exists(): boolean {
    if (!this.ready && hasState(this.storage)) this.create();
    return this.ready;
  }

  /** Creates or upgrades the schema; only for a path that is about to write state. */
  create(): void {
    migrate(this.storage, ACCOUNT_MIGRATIONS);
    this.ready = true;
  }

  account(): AccountRow | null {
    if (!this.exists()) return null;
    return this.sql.exec<AccountRow>("SELECT number, name, public_key, phone_seen_at FROM account WHERE id = 1").toArray()[0] ?? null;
  }

  /** First registration, or the same key registering again (which changes only the name and the last-seen time). */
  saveAccount(account: NewAccount, now: number): void {
    this.create();
    this.sql.exec(
      `INSERT INTO account (id, number, name, public_key, registered_at, phone_seen_at) VALUES (1, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone_seen_at = excluded.phone_seen_at`,
      account.number,
      account.name,
      account.publicKey,
      now,
      now,
    );
  }

  /** The key rotation's swap: one statement, so no request sees half of it. */
  replacePublicKey(publicKey: string): void {
    this.sql.exec("UPDATE account SET public_key = ? WHERE id = 1", publicKey);
  }

  phoneSeen(at: number): void {
    this.sql.exec("UPDATE account SET phone_seen_at = ? WHERE id = 1", at);
  }

  // --- seen signed requests (the replay check) -------------------------------

  forgetExpired(now: number): void {
    this.sql.exec("DELETE FROM seen_request WHERE expires_at < ?", now);
  }

  has(requestHash: string): boolean {
    return this.sql.exec("SELECT 1 FROM seen_request WHERE request_hash = ?", requestHash).toArray().length > 0;
  }

  add(requestHash: string, expiresAt: number): void {
    this.sql.exec("INSERT INTO seen_request (request_hash, expires_at) VALUES (?, ?)", requestHash, expiresAt);
  }

  // --- the waiting code session ----------------------------------------------

  /** The number's one waiting code session (none past its expiry). */
  waitingCode(now: number): string | null {
    if (!this.exists()) return null;
    const row = this.sql.exec<{ session_id: string }>("SELECT session_id FROM code_session WHERE id = 1 AND expires_at > ?", now).toArray()[0];
    return row?.session_id ?? null;
  }

  /** Puts `sessionId` in place of the waiting code session; answers the one it replaced, if that was still live. */
  replaceWaitingCode(sessionId: string, expiresAt: number, now: number): string | null {
    const replaced = this.waitingCode(now);
    this.sql.exec("INSERT OR REPLACE INTO code_session (id, session_id, expires_at) VALUES (1, ?, ?)", sessionId, expiresAt);
    return replaced === sessionId ? null : replaced;
  }

  // --- linked devices ----------------------------------------------------------

  devices(): LinkedDevice[] {
    if (!this.exists()) return [];
    return this.sql
      .exec<DeviceRow>("SELECT session_id, name, place, linked_at, last_active_at FROM device ORDER BY linked_at")
      .toArray()
      .map((row) => ({ id: row.session_id, name: row.name, place: row.place, linkedAt: row.linked_at, lastActiveAt: row.last_active_at }));
  }

  hasDevice(sessionId: string): boolean {
    if (!this.exists()) return false;
    return this.sql.exec("SELECT 1 FROM device WHERE session_id = ?", sessionId).toArray().length > 0;
  }

  /** Devices other than `sessionId`: a retried addDevice for the same session does not count itself. */
  countOtherDevices(sessionId: string): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM device WHERE session_id <> ?", sessionId).one().n;
  }

  putDevice(device: LinkedDevice): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO device (session_id, name, place, linked_at, last_active_at) VALUES (?, ?, ?, ?, ?)",
      device.id,
      device.name,
      device.place,
      device.linkedAt,
      device.lastActiveAt,
    );
  }

  /** Safe to call twice, and on an object with no database (it stays without one). */
  deleteDevice(sessionId: string): void {
    if (!this.exists()) return;
    this.sql.exec("DELETE FROM device WHERE session_id = ?", sessionId);
  }

  /** Moves the device's last activity to `at`, unless it moved less than `resolutionMs` ago. */
  touchDevice(sessionId: string, at: number, resolutionMs: number): void {
    if (!this.exists()) return;
    this.sql.exec("UPDATE device SET last_active_at = ? WHERE session_id = ? AND last_active_at < ?", at, sessionId, at - resolutionMs);
  }
}
