// The check of a signed phone request, in two halves: `authenticate` (time
// window and signature) needs no storage, so a request that fails it writes
// nothing; `acceptOnce` (replay) keeps what was accepted until its window
// closes. Both take `now` so they can be tested without a clock.
import { canonicalRequest, importIdentityPublicKey, sha256Base64url, verifyRequestSignature, type SignedRequestParts } from "../../shared/crypto";
import { failure, success, type Outcome } from "../outcome";

export interface SignedRequest extends SignedRequestParts {
  signature: string;
}

/** The requests already accepted, each until its window closes. */
export interface SeenRequests {
  forgetExpired(now: number): void;
  has(requestHash: string): boolean;
  add(requestHash: string, expiresAt: number): void;
}

/** A request whose signature verified: what the replay check keeps. */
export interface Authenticated {
  requestHash: string;
  /** After this, the timestamp is out of the window: the request would be refused as stale anyway. */
  expiresAt: number;
}

/** The request's time as a number, or `stale_request` when it is malformed or more than `windowMs` from `now`. */
export function requestTimeInWindow(timestamp: string, now: number, windowMs: number): Outcome<number> {
  const time = Number(timestamp);
  if (/^\d{1,15}$/.test(timestamp) && Math.abs(now - time) <= windowMs) return success(time);
  return failure("stale_request", `the request time is more than ${windowMs / 1000} s from the server's; check the phone's clock`);
}

export async function authenticate(publicKey: string, signed: SignedRequest, now: number, windowMs: number): Promise<Outcome<Authenticated>> {
  const inWindow = requestTimeInWindow(signed.timestamp, now, windowMs);
  if (!inWindow.ok) return inWindow;
  const timestamp = inWindow.value;
  const key = await importIdentityPublicKey(publicKey);
  if (!key || !(await verifyRequestSignature(key, signed, signed.signature))) {
    return failure("bad_signature", "the request signature does not verify");
  }
  // Keyed by what was signed, not by the signature: ECDSA signatures are malleable.
  const requestHash = await sha256Base64url(canonicalRequest(signed));
  return success({ requestHash, expiresAt: timestamp + windowMs });
}

/** Each signed request is accepted once. */
export function acceptOnce(seen: SeenRequests, request: Authenticated, now: number): Outcome<null> {
  seen.forgetExpired(now);
  if (seen.has(request.requestHash)) return failure("replayed_request", "this signed request was already used");
  seen.add(request.requestHash, request.expiresAt);
  return success(null);
}
