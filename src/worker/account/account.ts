// One Account per phone number: the phone's identity public key, the check of
// every signed phone request (signature, time window, replay), and the
// account's linked browsers, which it can revoke and ends when the phone has
// been away too long. This class only adapts RPC to the modules beside it:
// store.ts (rows), signed-requests.ts (the check), devices.ts (the links).
import { DurableObject } from "cloudflare:workers";
import { ACTIVITY_RESOLUTION_MS, phoneAbsentMs, signedRequestWindowMs } from "../config";
import { failure, success, type Outcome } from "../outcome";
import { importIdentityPublicKey, verifyKeyRotation } from "../../shared/crypto";
import type { AccountInfo, LinkedDevice, RegisterRequest } from "../../shared/protocol";
import { addDevice, endAllDevices, revokeDevice, type LinkedSessions } from "./devices";
import { acceptOnce, authenticate, type SignedRequest } from "./signed-requests";
import { AccountStore, type AccountRow } from "./store";

export type { SignedRequest } from "./signed-requests";

/** A phone request that verified: whose account, and the key that signed it. */
export interface VerifiedRequest {
  account: AccountInfo;
  publicKey: string;
}

/** A key rotation the Worker hands over once the request verified with `oldPublicKey`. */
export interface KeyRotation {
  /** The site's host, as the request was signed for. */
  host: string;
  oldPublicKey: string;
  newPublicKey: string;
  /** The rotation request's signed time, which the proof binds. */
  timestamp: string;
  /** The new key's signature over the rotation statement. */
  proof: string;
}

/** A sweep that could not end every link tries again this soon. */
export const SWEEP_RETRY_MS = 60_000;

export class Account extends DurableObject<Env> {
  private readonly store: AccountStore;
  private readonly windowMs: number;
  private readonly absentMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // No schema here: an object that is only asked about must keep no database.
    this.store = new AccountStore(ctx.storage);
    this.windowMs = signedRequestWindowMs(env);
    this.absentMs = phoneAbsentMs(env);
  }

  /**
   * Registers the number with the key that signed the request (proof of
   * possession). The same key may register again to change the name; another
   * key may not take the number over. The only path that creates storage, and
   * only once the signature verified.
   */
  async register(request: RegisterRequest, signed: SignedRequest): Promise<Outcome<AccountInfo>> {
    const now = Date.now();
    const authenticated = await authenticate(request.publicKey, { ...signed, number: request.number }, now, this.windowMs);
    if (!authenticated.ok) return authenticated;
    const existing = this.store.account();
    if (existing && existing.public_key !== request.publicKey) {
      return failure(
        "number_taken",
        `${request.number} is already registered with another key. Numbers here are first come, first served (there is no SMS check). ` +
          "If this is your phone's number and you still have the phone that registered it, move the number to a new key from there " +
          "(`npm run phone -- rotate-key`, or POST /api/accounts/rotate-key signed by the registered key). " +
          "Without that key the number cannot be recovered: register another number.",
      );
    }
    this.store.create();
    const accepted = acceptOnce(this.store, authenticated.value, now);
    if (!accepted.ok) return accepted;
    this.store.saveAccount(request, now);
    await this.armAbsenceCheck(now);
    return success({ number: request.number, name: request.name });
  }

  /**
   * Verifies a phone request signed by this account's key, for this account's
   * number (whatever number the request named); each signed request is
   * accepted once.
   */
  async verify(signed: SignedRequest): Promise<Outcome<VerifiedRequest>> {
    const account = this.store.account();
    if (!account) return failure("unknown_account", "no account is registered with this number");
    const now = Date.now();
    const authenticated = await authenticate(account.public_key, { ...signed, number: account.number }, now, this.windowMs);
    if (!authenticated.ok) return authenticated;
    // A rotation may have finished while the signature was checked: the old key stops working at once.
    if (this.store.account()?.public_key !== account.public_key) return failure("bad_signature", "this account's key was just replaced; sign with the new key");
    const accepted = acceptOnce(this.store, authenticated.value, now);
    if (!accepted.ok) return accepted;
    await this.phoneSeen(account);
    return success({ account: { number: account.number, name: account.name }, publicKey: account.public_key });
  }

  /**
   * Moves the account to a new identity key, for a request that verified with
   * the current one (`verify`). The new key proves possession by signing the
   * rotation statement (host, number, old key, new key, the request's time).
   * The swap is one write: from then on only the new key verifies. Signed
   * requests already accepted stay remembered, so none is accepted again.
   */
  async rotateKey(rotation: KeyRotation): Promise<Outcome<AccountInfo>> {
    const account = this.store.account();
    if (!account) return failure("unknown_account", "no account is registered with this number");
    if (account.public_key !== rotation.oldPublicKey) return failure("bad_signature", "this account's key was replaced after the request was signed");
    if (rotation.newPublicKey === account.public_key) return failure("invalid_input", "publicKey: is already this account's key");
    const newKey = await importIdentityPublicKey(rotation.newPublicKey);
    if (!newKey) return failure("invalid_input", "publicKey: is not a P-256 public key");
    const statement = { host: rotation.host, number: account.number, oldPublicKey: account.public_key, newPublicKey: rotation.newPublicKey, timestamp: rotation.timestamp };
    if (!(await verifyKeyRotation(newKey, statement, rotation.proof))) {
      return failure("invalid_input", "proof: does not verify with the new key over this number, the current key and the request's time");
    }
    // Checked again after the await: two rotations from the same key, one wins.
    if (this.store.account()?.public_key !== account.public_key) return failure("bad_signature", "this account's key was replaced after the request was signed");
    this.store.replacePublicKey(rotation.newPublicKey);
    // Relay sockets opened with the old key close now; the phone reconnects, signing with the new one.
    const closed = await Promise.allSettled(this.store.devices().map((device) => this.env.PAIRING_SESSION.getByName(device.id).closePhoneSockets()));
    for (const result of closed) if (result.status === "rejected") console.error("a session did not close its phone socket after a key rotation", result.reason);
    return success({ number: account.number, name: account.name });
  }

  // --- linking with a code ---------------------------------------------------

  /**
   * A browser asks for a code for this number: its session is the one this
   * number's phone finds, in place of any before (which the caller withdraws;
   * its id is answered). For a number nobody registered nothing is kept, and
   * the browser is answered alike, so asking tells nobody which numbers exist.
   */
  offerCode(sessionId: string, expiresAt: number): string | null {
    if (!this.store.account()) return null;
    return this.store.replaceWaitingCode(sessionId, expiresAt, Date.now());
  }

  /** The session of the code waiting for this number's phone, if one is live. */
  waitingCode(): string | null {
    return this.store.waitingCode(Date.now());
  }

  // --- linked devices -----------------------------------------------------

  /** A browser is being linked; refused past the limit, or when there is no account. */
  addDevice(device: LinkedDevice): Outcome<null> {
    return addDevice(this.store, device);
  }

  /** The linked session ended (logged out, revoked, expired): it leaves the list. Safe to call twice. */
  removeDevice(sessionId: string): void {
    this.store.deleteDevice(sessionId);
  }

  /** The browser came back; its last activity moves, at most once an hour. */
  touchDevice(sessionId: string, at: number): void {
    this.store.touchDevice(sessionId, at, ACTIVITY_RESOLUTION_MS);
  }

  devices(): LinkedDevice[] {
    return this.store.devices();
  }

  /** The phone logs a browser out. Fails with `unavailable`, keeping the link, when its session does not answer. */
  async revokeDevice(sessionId: string): Promise<Outcome<null>> {
    return revokeDevice(this.store, this.sessions(), sessionId);
  }

  /**
   * A phone unseen for `PHONE_ABSENT_MS` has every linked browser ended as
   * `inactive`. Links whose session did not answer are kept and retried in
   * `SWEEP_RETRY_MS`; otherwise the alarm is not set again until the phone is.
   */
  override async alarm(): Promise<void> {
    const account = this.store.account();
    if (!account) return;
    const absentAt = account.phone_seen_at + this.absentMs;
    if (Date.now() < absentAt) return this.ctx.storage.setAlarm(absentAt);
    const kept = await endAllDevices(this.store, this.sessions(), "inactive");
    if (kept.length > 0) await this.ctx.storage.setAlarm(Date.now() + SWEEP_RETRY_MS);
  }

  // -------------------------------------------------------------------------

  /** Read from `env` at each call, so a test can put a failing namespace in its place. */
  private sessions(): LinkedSessions {
    const namespace = this.env.PAIRING_SESSION;
    return { endLink: (sessionId, reason) => namespace.getByName(sessionId).endLink(reason) };
  }

  private async phoneSeen(account: AccountRow): Promise<void> {
    const now = Date.now();
    if (now - account.phone_seen_at < ACTIVITY_RESOLUTION_MS) return;
    this.store.phoneSeen(now);
    await this.armAbsenceCheck(now);
  }

  private async armAbsenceCheck(seenAt: number): Promise<void> {
    await this.ctx.storage.setAlarm(seenAt + this.absentMs);
  }
}
