// One Account per phone number: the phone's identity public key, the check of
// every signed phone request (signature, time window, replay), and the
// account's linked browsers, which it can revoke and ends when the phone has
// been away too long.
import { DurableObject } from "cloudflare:workers";
import { ACTIVITY_RESOLUTION_MS, phoneAbsentMs, signedRequestWindowMs } from "../config";
import { canonicalRequest, importIdentityPublicKey, sha256Base64url, verifyRequestSignature, type SignedRequestParts } from "../../shared/crypto";
import { failure, success, type Outcome } from "../outcome";
import { MAX_LINKED_DEVICES, type AccountInfo, type LinkedDevice, type RegisterRequest } from "../../shared/protocol";

export interface SignedRequest extends SignedRequestParts {
  signature: string;
}

interface AccountRow {
  number: string;
  name: string;
  public_key: string;
  phone_seen_at: number;
  [column: string]: SqlStorageValue;
}

interface DeviceRow {
  session_id: string;
  name: string;
  place: string;
  linked_at: number;
  last_active_at: number;
  [column: string]: SqlStorageValue;
}

export class Account extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly windowMs: number;
  private readonly absentMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.windowMs = signedRequestWindowMs(env);
    this.absentMs = phoneAbsentMs(env);
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        number TEXT NOT NULL,
        name TEXT NOT NULL,
        public_key TEXT NOT NULL,
        registered_at INTEGER NOT NULL,
        phone_seen_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS seen_request (
        request_hash TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS device (
        session_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        place TEXT NOT NULL,
        linked_at INTEGER NOT NULL,
        last_active_at INTEGER NOT NULL
      );
    `);
  }

  /**
   * Registers the number with the key that signed the request (proof of
   * possession). The same key may register again to change the name; another
   * key may not take the number over.
   */
  async register(request: RegisterRequest, signed: SignedRequest): Promise<Outcome<AccountInfo>> {
    const checked = await this.checkSignature(request.publicKey, signed);
    if (!checked.ok) return checked;
    const existing = this.account();
    if (existing && existing.public_key !== request.publicKey) {
      return failure("number_taken", `${request.number} is already registered with another key`);
    }
    const now = Date.now();
    this.sql.exec(
      `INSERT INTO account (id, number, name, public_key, registered_at, phone_seen_at) VALUES (1, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone_seen_at = excluded.phone_seen_at`,
      request.number,
      request.name,
      request.publicKey,
      now,
      now,
    );
    await this.armAbsenceCheck(now);
    return success({ number: request.number, name: request.name });
  }

  /** Verifies a phone request signed by this account's key; each signed request is accepted once. */
  async verify(signed: SignedRequest): Promise<Outcome<AccountInfo>> {
    const account = this.account();
    if (!account) return failure("unknown_account", "no account is registered with this number");
    const checked = await this.checkSignature(account.public_key, signed);
    if (!checked.ok) return checked;
    await this.phoneSeen(account);
    return success({ number: account.number, name: account.name });
  }

  // --- linked devices -----------------------------------------------------

  /** A browser is being linked; refused past the limit so the user logs a device out first. */
  addDevice(device: LinkedDevice): Outcome<null> {
    const count = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM device WHERE session_id <> ?", device.id).one().n;
    if (count >= MAX_LINKED_DEVICES) {
      return failure(
        "device_limit",
        `this account already has ${MAX_LINKED_DEVICES} linked devices, the most it can have; log one out first (npm run phone -- devices, then revoke <id>)`,
      );
    }
    this.sql.exec(
      "INSERT OR REPLACE INTO device (session_id, name, place, linked_at, last_active_at) VALUES (?, ?, ?, ?, ?)",
      device.id,
      device.name,
      device.place,
      device.linkedAt,
      device.lastActiveAt,
    );
    return success(null);
  }

  /** The linked session ended (logged out, revoked, expired): it leaves the list. Safe to call twice. */
  removeDevice(sessionId: string): void {
    this.sql.exec("DELETE FROM device WHERE session_id = ?", sessionId);
  }

  /** The browser came back; its last activity moves, at most once an hour. */
  touchDevice(sessionId: string, at: number): void {
    this.sql.exec("UPDATE device SET last_active_at = ? WHERE session_id = ? AND last_active_at < ?", at, sessionId, at - ACTIVITY_RESOLUTION_MS);
  }

  devices(): LinkedDevice[] {
    return this.sql
      .exec<DeviceRow>("SELECT * FROM device ORDER BY linked_at")
      .toArray()
      .map((row) => ({ id: row.session_id, name: row.name, place: row.place, linkedAt: row.linked_at, lastActiveAt: row.last_active_at }));
  }

  /** The phone logs a browser out: it leaves the list and its session ends as `revoked`. */
  async revokeDevice(sessionId: string): Promise<Outcome<null>> {
    const known = this.sql.exec("SELECT 1 FROM device WHERE session_id = ?", sessionId).toArray().length > 0;
    if (!known) return failure("unknown_device", "this account has no linked device with that id");
    this.removeDevice(sessionId);
    await this.env.PAIRING_SESSION.getByName(sessionId).endLink("revoked");
    return success(null);
  }

  /** A phone unseen for `PHONE_ABSENT_MS` has every linked browser ended as `inactive`. */
  override async alarm(): Promise<void> {
    const account = this.account();
    if (!account) return;
    const absentSince = account.phone_seen_at;
    if (Date.now() < absentSince + this.absentMs) return this.ctx.storage.setAlarm(absentSince + this.absentMs);
    for (const device of this.devices()) {
      this.removeDevice(device.id);
      await this.env.PAIRING_SESSION.getByName(device.id).endLink("inactive");
    }
  }

  // -------------------------------------------------------------------------

  private account(): AccountRow | null {
    return this.sql.exec<AccountRow>("SELECT number, name, public_key, phone_seen_at FROM account WHERE id = 1").toArray()[0] ?? null;
  }

  private async phoneSeen(account: AccountRow): Promise<void> {
    const now = Date.now();
    if (now - account.phone_seen_at < ACTIVITY_RESOLUTION_MS) return;
    this.sql.exec("UPDATE account SET phone_seen_at = ? WHERE id = 1", now);
    await this.armAbsenceCheck(now);
  }

  private async armAbsenceCheck(seenAt: number): Promise<void> {
    await this.ctx.storage.setAlarm(seenAt + this.absentMs);
  }

  private async checkSignature(publicKey: string, signed: SignedRequest): Promise<Outcome<null>> {
    const now = Date.now();
    const timestamp = Number(signed.timestamp);
    if (!/^\d{1,15}$/.test(signed.timestamp) || Math.abs(now - timestamp) > this.windowMs) {
      return failure("stale_request", `the request time is more than ${this.windowMs / 1000} s from the server's; check the phone's clock`);
    }
    const key = await importIdentityPublicKey(publicKey);
    if (!key || !(await verifyRequestSignature(key, signed, signed.signature))) {
      return failure("bad_signature", "the request signature does not verify");
    }
    // Keyed by what was signed, not by the signature: ECDSA signatures are malleable.
    const requestHash = await sha256Base64url(canonicalRequest(signed));
    this.sql.exec("DELETE FROM seen_request WHERE expires_at < ?", now);
    const replayed = this.sql.exec("SELECT 1 FROM seen_request WHERE request_hash = ?", requestHash).toArray().length > 0;
    if (replayed) return failure("replayed_request", "this signed request was already used");
    this.sql.exec("INSERT INTO seen_request (request_hash, expires_at) VALUES (?, ?)", requestHash, timestamp + this.windowMs);
    return success(null);
  }
}
