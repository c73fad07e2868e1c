// Hono building blocks shared by the routes: error replies and their
// headers, body and rate limits, JSON validation, origin checks and the
// hand-over of WebSocket upgrades to a session's object. The signed phone
// request is checked in signed-phone.ts.
import type { Context, MiddlewareHandler } from "hono";
import { validator } from "hono/validator";
import type * as z from "zod/mini";
import type { SignedRequest } from "./account/account";
import { allowedOrigins, noSiteOriginReason, siteOrigin } from "./config";
import { ADDRESS_HEADER, FORWARDED_PREFIX, SOCKET_HEADER, type SocketAddress, type SocketKind } from "./forwarded-headers";
import { refusedUpgrade } from "./refused-upgrade";
import { BLOB_PART_PATH, MAX_BLOB_PART_BYTES } from "./blobs/routes";
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
} from "../shared/protocol";

export type AppEnv = {
  Bindings: Env;
  Variables: {
    /** The phone's signed request, read by `phoneSignature` (signed-phone.ts). */
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
 * that limit (signed-phone.ts `readBodyUpTo`), once its signature's number and time passed.
 */
export const bodyLimits: MiddlewareHandler = async (c, next) => {
  const request = c.req.raw;
  if ((request.method === "GET" || request.method === "HEAD") && declaresBody(request)) {
    return errorResponse(c, "payload_too_large", `${request.method} requests take no body`);
  }
  const length = Number(request.headers.get("content-length") ?? 0);
  // A media upload part is streamed to R2 (blobs/routes.ts), and may be one part long.
  const limit = request.method === "PUT" && BLOB_PART_PATH.test(c.req.path) ? MAX_BLOB_PART_BYTES : LIMITS.phoneRequestBytes;
  if (!(length <= limit)) {
    return errorResponse(c, "payload_too_large", `request bodies are limited to ${limit} bytes`);
  }
  await next();
};

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

export const isUpgrade = (c: Context) => c.req.header("upgrade")?.toLowerCase() === "websocket";
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
      site ? "WebSocket connections are accepted only from this site's own pages" : noSiteOriginReason(c.env),
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
  // The object trusts only the Worker's own x-qrl-* headers: none of the
  // client's reaches it (its signature headers were checked here already).
  for (const name of [...headers.keys()]) if (name.startsWith(FORWARDED_PREFIX)) headers.delete(name);
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
  const signedInSubprotocols = credentialsFromSubprotocols(c.req.header("sec-websocket-protocol")) !== null;
  return refusedUpgrade(code, reason, signedInSubprotocols ? RELAY_SUBPROTOCOL : undefined);
}
