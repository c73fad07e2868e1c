// Hono building blocks shared by the routes: error replies, size limits,
// JSON validation and the signed-phone-request check.
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { validator } from "hono/validator";
import type * as z from "zod/mini";
import type { SignedRequest } from "./account/account";
import { allowedOrigins } from "./config";
import { sha256Base64url } from "../shared/crypto";
import { SOCKET_HEADER, type SocketKind } from "./forwarded-headers";
import { ERROR_STATUS, type Outcome } from "./outcome";
import { addressKey, withinRateLimit, type RateLimitRule } from "./rate-limit";
import {
  credentialsFromSubprotocols,
  LIMITS,
  phoneNumberSchema,
  SIGNATURE_HEADERS,
  type AccountInfo,
  type ErrorBody,
  type ErrorCode,
  type PhoneCredentials,
} from "../shared/protocol";

export type AppEnv = { Bindings: Env; Variables: { account: AccountInfo } };

export function errorResponse(c: Context, code: ErrorCode, message: string): Response {
  return c.json({ error: { code, message } } satisfies ErrorBody, ERROR_STATUS[code]);
}

/** Replies with an object's outcome: its value as JSON, or its error with the code's status. */
export function outcomeResponse<T>(c: Context, outcome: Outcome<T>): Response {
  return outcome.ok ? c.json(outcome.value as object) : errorResponse(c, outcome.code, outcome.message);
}

/** Refuses bodies over the phone limit before anything reads them. */
export const limitPhoneBody = bodyLimit({
  maxSize: LIMITS.phoneRequestBytes,
  onError: (c) => errorResponse(c, "payload_too_large", `request bodies are limited to ${LIMITS.phoneRequestBytes} bytes`),
});

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

/** Rate-limit key: the client's address. */
export const byAddress = (c: Context): string => addressKey(c.req.header("cf-connecting-ip"));

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
 * Browser sockets: an upgrade whose Origin is this site, or one listed in
 * ALLOWED_ORIGINS, so no other page can open or resume a session.
 */
export const sameOriginUpgrade: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!isUpgrade(c)) return upgradeRequired(c);
  const origin = c.req.header("origin");
  if (origin !== new URL(c.req.url).origin && !(origin && allowedOrigins(c.env).includes(origin))) {
    return errorResponse(c, "forbidden_origin", "WebSocket connections are accepted only from this site's own pages");
  }
  await next();
};

/** Hands a WebSocket upgrade to the session's object, saying what kind of socket it is. */
export function forwardUpgrade(c: Context<AppEnv>, sessionId: string, kind: SocketKind, extra: Record<string, string>): Promise<Response> {
  const headers = new Headers(c.req.raw.headers);
  headers.set(SOCKET_HEADER, kind);
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return c.env.PAIRING_SESSION.getByName(sessionId).fetch(new Request(c.req.raw, { headers }));
}

/** The phone's signature: headers, or for a page's WebSocket the subprotocol list. */
function credentialsOf(c: Context): Partial<PhoneCredentials> | null {
  const timestamp = c.req.header(SIGNATURE_HEADERS.timestamp);
  const signature = c.req.header(SIGNATURE_HEADERS.signature);
  if (timestamp && signature) return { number: c.req.header(SIGNATURE_HEADERS.number), timestamp, signature };
  return isUpgrade(c) ? credentialsFromSubprotocols(c.req.header("sec-websocket-protocol")) : null;
}

/** Reads the signature and hashes the raw body, as the phone signed them. */
export async function signedRequestOf(c: Context): Promise<(SignedRequest & { number: string | undefined }) | null> {
  const credentials = credentialsOf(c);
  if (!credentials?.timestamp || !credentials.signature) return null;
  const url = new URL(c.req.url);
  const body = new Uint8Array(await c.req.arrayBuffer());
  return {
    method: c.req.method,
    path: url.pathname + url.search,
    timestamp: credentials.timestamp,
    bodyHash: await sha256Base64url(body),
    signature: credentials.signature,
    number: credentials.number,
  };
}

/** Lets a request through only when the registered phone behind its number signed it. */
export const signedByPhone: MiddlewareHandler<AppEnv> = async (c, next) => {
  const signed = await signedRequestOf(c);
  const number = phoneNumberSchema.safeParse(signed?.number);
  if (!number.success || !signed) {
    return errorResponse(c, "missing_signature", `phone requests carry ${Object.values(SIGNATURE_HEADERS).join(", ")} headers`);
  }
  const verified = await c.env.ACCOUNT.getByName(number.data).verify(signed);
  if (!verified.ok) return outcomeResponse(c, verified);
  c.set("account", verified.value);
  await next();
};
