// How QR Link uses CPace (cpace.ts) for a link code: the password is the
// code, the session id is the pairing session's, the channel identifier names
// the site and the account's number. The browser is the initiator; each side's
// associated data is its X25519 public key, so the ISK authenticates the
// X25519 exchange, and the link keys come from that exchange salted with a
// secret drawn from the ISK, where a QR link salts with the QR's qrSecret.
// Everything after (confirmation MAC, number matching, relay keys) is then
// the QR flow's own (crypto.ts deriveLinkKeys).
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { calculateGenerator, cpaceIsk, cpaceShare, lvCat, sampleScalar } from "./cpace";
import { fromBase64url, toBase64url } from "./crypto";

const encoder = new TextEncoder();

/** What both sides must agree on besides the code; a difference in any yields unrelated keys. */
export interface CodeExchangeContext {
  /** The code in its canonical form (link-code.ts parseLinkCode). */
  code: string;
  sessionId: string;
  /** The site's host, as phone signatures name it. */
  host: string;
  /** The account's number the code was asked for. */
  number: string;
}

/** This side's ephemeral CPace scalar and the share it sends (base64url, 32 bytes). */
export interface CodeShare {
  scalar: bigint;
  share: string;
}

/** The public values of one exchange: both shares and both X25519 keys (base64url). */
export interface CodeExchange {
  browserShare: string;
  browserPublicKey: string;
  phoneShare: string;
  phonePublicKey: string;
}

function sidOf(sessionId: string): Uint8Array {
  const sid = fromBase64url(sessionId);
  if (!sid) throw new Error("the session id is not base64url");
  return sid;
}

export function codeShare(context: CodeExchangeContext): CodeShare {
  const ci = lvCat(encoder.encode("qr-link-v1 code"), encoder.encode(context.host.toLowerCase()), encoder.encode(context.number));
  const generator = calculateGenerator(encoder.encode(context.code), ci, sidOf(context.sessionId));
  const scalar = sampleScalar();
  return { scalar, share: toBase64url(cpaceShare(generator, scalar)) };
}

/**
 * The 16-byte link secret (base64url) from the ISK, which stands where a QR
 * link's qrSecret does; null when the peer's share or a key is malformed.
 * Both sides get the same secret only if they used the same code and context.
 */
export function codeLinkSecret(context: CodeExchangeContext, own: CodeShare, role: "browser" | "phone", exchange: CodeExchange): string | null {
  const bytes = {
    browserShare: fromBase64url(exchange.browserShare),
    browserPublicKey: fromBase64url(exchange.browserPublicKey),
    phoneShare: fromBase64url(exchange.phoneShare),
    phonePublicKey: fromBase64url(exchange.phonePublicKey),
  };
  const { browserShare, browserPublicKey, phoneShare, phonePublicKey } = bytes;
  if (!browserShare || !browserPublicKey || !phoneShare || !phonePublicKey) return null;
  if (browserShare.length !== 32 || phoneShare.length !== 32 || browserPublicKey.length !== 32 || phonePublicKey.length !== 32) return null;
  const peerShare = role === "browser" ? phoneShare : browserShare;
  const transcript = { initiatorShare: browserShare, initiatorData: browserPublicKey, responderShare: phoneShare, responderData: phonePublicKey };
  const isk = cpaceIsk(own.scalar, peerShare, sidOf(context.sessionId), transcript);
  if (!isk) return null;
  return toBase64url(hkdf(sha256, isk, undefined, encoder.encode(`qr-link-v1 code link secret ${context.sessionId}`), 16));
}
