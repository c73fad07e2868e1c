// Hono building blocks shared by the routes: error replies, size limits,
// JSON validation and the signed-phone-request check.
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { validator } from "hono/validator";
import type * as z from "zod/mini";
import type { SignedRequest } from "./account";
import { sha256Base64url } from "./crypto";
import { ERROR_STATUS, type Outcome } from "./outcome";
import { LIMITS, SIGNATURE_HEADERS, phoneNumberSchema, type Account, type ErrorBody, type ErrorCode } from "./protocol";

export type AppEnv = { Bindings: Env; Variables: { account: Account } };

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

/** Validates the JSON body against a protocol schema; malformed JSON is a `bad_json` error (see app.onError). */
export function jsonBody<T extends z.ZodMiniType>(schema: T) {
  return validator("json", (value, c) => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data as z.infer<T>;
    const issue = parsed.error.issues[0];
    return errorResponse(c, "invalid_input", issue ? `${issue.path.join(".") || "body"}: ${issue.message}` : "invalid body");
  });
}

/** Reads the signature headers and hashes the raw body, as the phone signed them. */
export async function signedRequestOf(c: Context): Promise<SignedRequest | null> {
  const timestamp = c.req.header(SIGNATURE_HEADERS.timestamp);
  const signature = c.req.header(SIGNATURE_HEADERS.signature);
  if (!timestamp || !signature) return null;
  const url = new URL(c.req.url);
  const body = new Uint8Array(await c.req.arrayBuffer());
  return { method: c.req.method, path: url.pathname + url.search, timestamp, bodyHash: await sha256Base64url(body), signature };
}

/** Lets a request through only when the registered phone behind its number signed it. */
export const signedByPhone: MiddlewareHandler<AppEnv> = async (c, next) => {
  const number = phoneNumberSchema.safeParse(c.req.header(SIGNATURE_HEADERS.number));
  const signed = await signedRequestOf(c);
  if (!number.success || !signed) {
    return errorResponse(c, "missing_signature", `phone requests carry ${Object.values(SIGNATURE_HEADERS).join(", ")} headers`);
  }
  const verified = await c.env.ACCOUNT.getByName(number.data).verify(signed);
  if (!verified.ok) return outcomeResponse(c, verified);
  c.set("account", verified.value);
  await next();
};
