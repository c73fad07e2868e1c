// Hono building blocks shared by the routes: error replies and their
// headers, body and rate limits, JSON validation, origin checks and the
// signed-phone-request check.
import type { Context, MiddlewareHandler } from "hono";
import { validator } from "hono/validator";
import type * as z from "zod/mini";
import type { SignedRequest } from "./account/account";
import { allowedOrigins, signedRequestWindowMs, siteOrigin } from "./config";
import { sha256Base64url } from "../shared/crypto";
import { ADDRESS_HEADER, SOCKET_HEADER, type SocketAddress, type SocketKind } from "./forwarded-headers";
import { ERROR_STATUS, type Outcome } from "./outcome";
import { addressKey, withinRateLimit, type RateLimitRule } from "./rate-limit";
import {
  CLOSE_CODES,
  credentialsFromSubprotocols,
  LIMITS,
  phoneNumberSchema,
  RELAY_SUBPROTOCOL,
  SIGNATURE_HEADERS,
  type AccountInfo,
  type ErrorBody,
  type ErrorCode,
  type PhoneCredentials,
} from "../shared/protocol";

export type AppEnv = {
  Bindings: Env;
  Variables: {
    /** The phone's signed request, read by `phoneSignature`. */
    signed: SignedRequest;
    /** The account whose key verified it, set by `signedByPhone`… */
    account: AccountInfo;
    /** …and that key. */
    accountKey: string;
  };
};

export function errorResponse(c: Context, code: ErrorCode, message: string): Response {
  return c.json({ error: { code, message } } satisfies ErrorBody, ERROR_STATUS[code]);
}

/** Replies with an object's outcome: its value as JSON, or its error with the code's status. */
export function outcomeResponse<T>(c: Context, outcome: Outcome<T>): Response {
  return outcome.ok ? c.json(outcome.value as object) : errorResponse(c, outcome.code, outcome.message);
}

/**
 * Every JSON reply the Worker makes (API answers, errors, 404s) says it is
 * JSON and nothing else, and may not be framed or run anything if opened as
 * a page. Pages and their files get their own headers from public/_headers.
 */
export const API_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
} as const;

export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  if (c.res.status === 101 || !c.res.headers.get("content-type")?.startsWith("application/json")) return;
  let response = c.res;
  try {
    for (const [name, value] of Object.entries(API_HEADERS)) response.headers.set(name, value);
  } catch {
    // A response from another object can have immutable headers: copy it.
    response = new Response(response.body, response);
    for (const [name, value] of Object.entries(API_HEADERS)) response.headers.set(name, value);
    c.res = response;
  }
};

/** Whether a request carries a body, judged from its headers and without reading it. */
function declaresBody(request: Request): boolean {
  if (request.headers.has("transfer-encoding")) return true;
  const length = request.headers.get("content-length");
  if (length !== null) return length.trim() !== "0";
  return request.body !== null;
}

/**
 * Body limits before any route runs, from the headers alone: GET requests
 * (WebSocket upgrades included) take no body at all, and no request declares
 * more than the phone limit. A chunked body is read later, and only up to
 * that limit (`readBodyUpTo`), once its signature's number and time passed.
 */
export const bodyLimits: MiddlewareHandler = async (c, next) => {
  const request = c.req.raw;
  if ((request.method === "GET" || request.method === "HEAD") && declaresBody(request)) {
    return errorResponse(c, "payload_too_large", `${request.method} requests take no body`);
  }
  const length = Number(request.headers.get("content-length") ?? 0);
  if (!(length <= LIMITS.phoneRequestBytes)) {
    return errorResponse(c, "payload_too_large", `request bodies are limited to ${LIMITS.phoneRequestBytes} bytes`);
  }
  await next();
};

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

/**
 * Counts the request against `rule` under the key `keyOf` picks (none: not
 * counted); over the limit it is refused with 429 and Retry-After.
 */
export function rateLimit(rule: RateLimitRule, keyOf: (c: Context<AppEnv>) => string | null): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = keyOf(c);
    if (key !== null && !(await withinRateLimit(c.env, rule, key))) {
      c.header("retry-after", String(rule.periodSeconds));
      return errorResponse(c, "rate_limited", `too many requests; at most ${rule.limit} every ${rule.periodSeconds} s, try again later`);
    }
    await next();
  };
}

/** Rate-limit key: the client's address (see addressKey for a request without one). */
export const byAddress = (c: Context): string => addressKey(c.req.header("cf-connecting-ip"));

/** Rate-limit key: the account whose key verified the request (after `signedByPhone`). */
export const byAccount = (c: Context<AppEnv>): string => c.var.account.number;

/** Rate-limit key: the phone number the request claims, when it is one. */
export const byClaimedNumber = (c: Context): string | null => {
  const number = phoneNumberSchema.safeParse(c.req.header(SIGNATURE_HEADERS.number));
  return number.success ? number.data : null;
};

/** Validates the JSON body against a protocol schema; malformed JSON is a `bad_json` error (see app.onError). */
export function jsonBody<T extends z.ZodMiniType>(schema: T) {
  return validator("json", (value, c) => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data as z.infer<T>;
    const issue = parsed.error.issues[0];
    return errorResponse(c, "invalid_input", issue ? `${issue.path.join(".") || "body"}: ${issue.message}` : "invalid body");
  });
}

/** Validates a path parameter against a protocol schema. */
export function jsonParam<T extends z.ZodMiniType>(name: string, schema: T) {
  return validator("param", (params: Record<string, string>, c) => {
    if (schema.safeParse(params[name]).success) return params;
    return errorResponse(c, "invalid_input", `${name}: malformed`);
  });
}

const isUpgrade = (c: Context) => c.req.header("upgrade")?.toLowerCase() === "websocket";
const upgradeRequired = (c: Context) => errorResponse(c, "upgrade_required", "this endpoint takes a WebSocket upgrade");

export const upgradeOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!isUpgrade(c)) return upgradeRequired(c);
  await next();
};

/**
 * Browser sockets: an upgrade whose Origin is the site's (SITE_ORIGIN, see
 * siteOrigin), or one listed in ALLOWED_ORIGINS, so no other page can open
 * or resume a session. The site's origin is never made from `Host`, which a
 * DNS-rebinding page controls along with its own Origin.
 */
export const sameOriginUpgrade: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!isUpgrade(c)) return upgradeRequired(c);
  const origin = c.req.header("origin");
  const site = siteOrigin(c.env, c.req.url);
  if (!origin || (origin !== site && !allowedOrigins(c.env).includes(origin))) {
    return errorResponse(
      c,
      "forbidden_origin",
      site ? "WebSocket connections are accepted only from this site's own pages" : "this server has no SITE_ORIGIN set and is not reached on a loopback address",
    );
  }
  await next();
};

/**
 * Where an upgrade goes: a session by its id (the address its QR codes
 * showed), or a linked session by its link id (its object's own id, which no
 * QR shows; see docs/protocol.md).
 */
export type UpgradeTarget = { sessionId: string } | { linkId: string };

/**
 * Hands a WebSocket upgrade to the session's object, saying what kind of
 * socket it is and which address it came to. A link id that is not one of
 * this namespace's ids reaches no object: it is refused here as the object
 * would refuse an unknown one.
 */
export function forwardUpgrade(c: Context<AppEnv>, target: UpgradeTarget, kind: SocketKind, extra: Record<string, string>): Promise<Response> | Response {
  const sessions = c.env.PAIRING_SESSION;
  let stub: DurableObjectStub;
  if ("linkId" in target) {
    let id: DurableObjectId;
    try {
      id = sessions.idFromString(target.linkId);
    } catch {
      return refuseUpgrade(c, CLOSE_CODES.unknown_session, "no linked session at this address");
    }
    stub = sessions.get(id);
  } else {
    stub = sessions.getByName(target.sessionId);
  }
  const headers = new Headers(c.req.raw.headers);
  headers.set(SOCKET_HEADER, kind);
  headers.set(ADDRESS_HEADER, ("linkId" in target ? "link" : "session") satisfies SocketAddress);
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return stub.fetch(new Request(c.req.raw, { headers }));
}

/**
 * Completes an upgrade only to close it with `code`, which a client can read
 * (a failed upgrade it cannot); a phone page that signed in the subprotocol
 * list gets ours back, or its browser would not open the socket at all.
 */
function refuseUpgrade(c: Context, code: number, reason: string): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  server.close(code, reason);
  const signedInSubprotocols = credentialsFromSubprotocols(c.req.header("sec-websocket-protocol")) !== null;
  return new Response(null, { status: 101, webSocket: client, headers: signedInSubprotocols ? { "sec-websocket-protocol": RELAY_SUBPROTOCOL } : undefined });
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
async function readSignedRequest(c: Context<AppEnv>): Promise<SignedRequest | Response> {
  const credentials = credentialsOf(c);
  if (!credentials?.timestamp || !credentials.signature) {
    return errorResponse(c, "missing_signature", `phone requests carry ${Object.values(SIGNATURE_HEADERS).join(", ")} headers`);
  }
  const number = phoneNumberSchema.safeParse(credentials.number);
  if (!number.success) return errorResponse(c, "missing_signature", `${SIGNATURE_HEADERS.number}: must be an E.164 number such as +15550001`);
  const windowMs = signedRequestWindowMs(c.env);
  if (!/^\d{1,15}$/.test(credentials.timestamp) || Math.abs(Date.now() - Number(credentials.timestamp)) > windowMs) {
    return errorResponse(c, "stale_request", `the request time is more than ${windowMs / 1000} s from the server's; check the phone's clock`);
  }
  const site = siteOrigin(c.env, c.req.url);
  if (!site) return errorResponse(c, "forbidden_origin", "this server has no SITE_ORIGIN set and is not reached on a loopback address");
  const body = await readBodyUpTo(c, LIMITS.phoneRequestBytes);
  if (!body) return errorResponse(c, "payload_too_large", `request bodies are limited to ${LIMITS.phoneRequestBytes} bytes`);
  const url = new URL(c.req.url);
  return {
    host: new URL(site).host,
    number: number.data,
    method: c.req.method,
    path: url.pathname + url.search,
    timestamp: credentials.timestamp,
    bodyHash: await sha256Base64url(body),
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
  const signed = await readSignedRequest(c);
  if (signed instanceof Response) return signed;
  c.set("signed", signed);
  const verified = await c.env.ACCOUNT.getByName(signed.number).verify(signed);
  if (!verified.ok) return outcomeResponse(c, verified);
  c.set("account", verified.value.account);
  c.set("accountKey", verified.value.publicKey);
  await next();
};
