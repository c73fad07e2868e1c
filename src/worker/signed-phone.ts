// The signed phone request: the phone's signature read from its headers (or,
// for a page's WebSocket, its subprotocol list), its number and time checked
// before the body is read, the body read only up to the phone limit and
// hashed as the phone signed it, and then verified by the number's Account.
import type { Context, MiddlewareHandler } from "hono";
import { requestTimeInWindow } from "./account/signed-requests";
import type { SignedRequest, VerifiedRequest } from "./account/account";
import { noSiteOriginReason, signedRequestWindowMs, siteOrigin } from "./config";
import { sha256Base64url } from "../shared/crypto";
import { errorResponse, isUpgrade, outcomeResponse, type AppEnv } from "./http";
import { credentialsFromSubprotocols, LIMITS, phoneNumberSchema, SIGNATURE_HEADERS, UNSIGNED_PAYLOAD, type PhoneCredentials } from "../shared/protocol";

/**
 * Reads the body, stopping as soon as it passes `maxBytes` (null then); what
 * was read is kept for the JSON validator. A request without a body reads as
 * empty.
 */
async function readBodyUpTo(c: Context, maxBytes: number): Promise<Uint8Array<ArrayBuffer> | null> {
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  c.req.raw = new Request(c.req.raw, { body: bytes });
  return bytes;
}

/** The body's hash as a signature covers it, reading at most LIMITS.phoneRequestBytes of it. */
export async function readBodyHash(c: Context): Promise<string | Response> {
  const body = await readBodyUpTo(c, LIMITS.phoneRequestBytes);
  if (!body) return errorResponse(c, "payload_too_large", `request bodies are limited to ${LIMITS.phoneRequestBytes} bytes`);
  return sha256Base64url(body);
}

/** The phone's signature: headers, or for a page's WebSocket the subprotocol list. */
function credentialsOf(c: Context): Partial<PhoneCredentials> | null {
  const timestamp = c.req.header(SIGNATURE_HEADERS.timestamp);
  const signature = c.req.header(SIGNATURE_HEADERS.signature);
  if (timestamp && signature) return { number: c.req.header(SIGNATURE_HEADERS.number), timestamp, signature };
  return isUpgrade(c) ? credentialsFromSubprotocols(c.req.header("sec-websocket-protocol")) : null;
}

/**
 * Reads the phone's signature for `phoneSignature`: the number's form and the
 * time window are checked from the headers, before the body is read (at most
 * LIMITS.phoneRequestBytes of it) and hashed as the phone signed it. The host
 * is the site's, never the request's own `Host`.
 */
async function readSignedRequest(c: Context<AppEnv>, payload: "body" | "unsigned" = "body"): Promise<SignedRequest | Response> {
  const credentials = credentialsOf(c);
  if (!credentials?.timestamp || !credentials.signature) {
    return errorResponse(c, "missing_signature", `phone requests carry ${Object.values(SIGNATURE_HEADERS).join(", ")} headers`);
  }
  const number = phoneNumberSchema.safeParse(credentials.number);
  if (!number.success) return errorResponse(c, "missing_signature", `${SIGNATURE_HEADERS.number}: must be an E.164 number such as +15550001`);
  const inWindow = requestTimeInWindow(credentials.timestamp, Date.now(), signedRequestWindowMs(c.env));
  if (!inWindow.ok) return outcomeResponse(c, inWindow);
  const site = siteOrigin(c.env, c.req.url);
  if (!site) return errorResponse(c, "forbidden_origin", noSiteOriginReason(c.env));
  const bodyHash = payload === "unsigned" ? UNSIGNED_PAYLOAD : await readBodyHash(c);
  if (bodyHash instanceof Response) return bodyHash;
  const url = new URL(c.req.url);
  return {
    host: new URL(site).host,
    number: number.data,
    method: c.req.method,
    path: url.pathname + url.search,
    timestamp: credentials.timestamp,
    bodyHash,
    signature: credentials.signature,
  };
}

/** Reads a phone's signed request into `c.var.signed` (not yet verified: `signedByPhone` does that, or registration). */
export const phoneSignature: MiddlewareHandler<AppEnv> = async (c, next) => {
  const signed = await readSignedRequest(c);
  if (signed instanceof Response) return signed;
  c.set("signed", signed);
  await next();
};

/** Lets a request through only when the registered phone behind its number signed it. */
export const signedByPhone: MiddlewareHandler<AppEnv> = async (c, next) => {
  const verified = await verifiedPhone(c);
  if (verified instanceof Response) return verified;
  c.set("account", verified.account);
  c.set("accountKey", verified.publicKey);
  await next();
};

/**
 * The registered phone's request, verified: its account, or the refusal.
 * `unsigned`: the signature covers UNSIGNED_PAYLOAD instead of the body,
 * which is left unread (a media part, streamed to storage).
 */
export async function verifiedPhone(c: Context<AppEnv>, payload: "body" | "unsigned" = "body"): Promise<VerifiedRequest | Response> {
  const signed = await readSignedRequest(c, payload);
  if (signed instanceof Response) return signed;
  c.set("signed", signed);
  const verified = await c.env.ACCOUNT.getByName(signed.number).verify(signed);
  return verified.ok ? verified.value : outcomeResponse(c, verified);
}
