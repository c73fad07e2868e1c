// Timings from wrangler.toml [vars]; tests and the browser suite shorten them.

export interface SessionConfig {
  firstTokenTtlMs: number;
  tokenTtlMs: number;
  tokenCount: number;
  /** How long a token stays accepted after the next one replaced it. */
  graceMs: number;
  /** How long a scanned session waits for the phone to confirm. */
  confirmTimeoutMs: number;
  /** Silence after which the phone counts as offline. */
  phoneOfflineMs: number;
}

function positiveInteger(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) && parsed > 0 ? parsed : fallback;
}

export function sessionConfig(env: Env): SessionConfig {
  return {
    firstTokenTtlMs: positiveInteger(env.TOKEN_FIRST_TTL_MS, 60_000),
    tokenTtlMs: positiveInteger(env.TOKEN_TTL_MS, 20_000),
    tokenCount: positiveInteger(env.TOKEN_COUNT, 6),
    graceMs: positiveInteger(env.TOKEN_GRACE_MS, 5_000),
    confirmTimeoutMs: positiveInteger(env.CONFIRM_TIMEOUT_MS, 60_000),
    phoneOfflineMs: positiveInteger(env.PHONE_OFFLINE_MS, 15_000),
  };
}

export function signedRequestWindowMs(env: Env): number {
  return positiveInteger(env.SIGNED_REQUEST_WINDOW_MS, 60_000);
}
