// Results of Durable Object RPC methods. Errors thrown across RPC lose their
// fields, so the objects return a code the Worker turns into an HTTP reply.
import type { ErrorCode } from "../shared/protocol";

export type Outcome<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string };

export function success<T>(value: T): Outcome<T> {
  return { ok: true, value };
}

export function failure(code: ErrorCode, message: string): { ok: false; code: ErrorCode; message: string } {
  return { ok: false, code, message };
}

export const ERROR_STATUS = {
  bad_json: 400,
  invalid_input: 400,
  payload_too_large: 413,
  not_found: 404,
  upgrade_required: 426,
  forbidden_origin: 403,
  forbidden: 403,
  missing_signature: 401,
  bad_signature: 401,
  stale_request: 401,
  replayed_request: 401,
  unknown_account: 401,
  number_taken: 409,
  session_not_found: 404,
  invalid_token: 403,
  wrong_code: 403,
  wrong_state: 409,
  device_limit: 409,
  unknown_device: 404,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
} as const satisfies Record<ErrorCode, number>;
