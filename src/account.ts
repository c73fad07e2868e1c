// One Account per phone number: the phone's identity public key, and the
// check of every signed phone request (signature, time window, replay).
import { DurableObject } from "cloudflare:workers";
import { signedRequestWindowMs } from "./config";
import { canonicalRequest, importIdentityPublicKey, sha256Base64url, verifyRequestSignature, type SignedRequestParts } from "./crypto";
import { failure, success, type Outcome } from "./outcome";
import type { Account as AccountInfo, RegisterRequest } from "./protocol";

export interface SignedRequest extends SignedRequestParts {
  signature: string;
}

interface AccountRow {
  number: string;
  name: string;
  public_key: string;
  [column: string]: SqlStorageValue;
}

export class Account extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly windowMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.windowMs = signedRequestWindowMs(env);
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        number TEXT NOT NULL,
        name TEXT NOT NULL,
        public_key TEXT NOT NULL,
        registered_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS seen_request (
        request_hash TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
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
    this.sql.exec(
      `INSERT INTO account (id, number, name, public_key, registered_at) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name`,
      request.number,
      request.name,
      request.publicKey,
      Date.now(),
    );
    return success({ number: request.number, name: request.name });
  }

  /** Verifies a phone request signed by this account's key; each signed request is accepted once. */
  async verify(signed: SignedRequest): Promise<Outcome<AccountInfo>> {
    const account = this.account();
    if (!account) return failure("unknown_account", "no account is registered with this number");
    const checked = await this.checkSignature(account.public_key, signed);
    if (!checked.ok) return checked;
    return success({ number: account.number, name: account.name });
  }

  private account(): AccountRow | null {
    return this.sql.exec<AccountRow>("SELECT number, name, public_key FROM account WHERE id = 1").toArray()[0] ?? null;
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
