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
  /** A linked browser unused this long is logged out as inactive. */
  deviceIdleMs: number;
  /** A browser socket silent this long (no message, no heartbeat) is closed. */
  socketIdleMs: number;
  /** How long a reloaded browser has to answer its resume challenge. */
  challengeTimeoutMs: number;
  /** Messages a socket may send per second, with bursts of twice this. */
  socketMessagesPerSecond: number;
  /** How long a link code may be typed on the phone, from the browser's request. */
  codeTtlMs: number;
  /** Wrong codes a code session allows before it ends as too_many_attempts. */
  codeTries: number;
  /** How long the relay's write waits for a receiver to acknowledge frames forwarded to it (those acknowledged first are never written). */
  relayAckWaitMs: number;
  /** How long a phone's try waits for the browser to check its confirmation. */
  codeVerdictTimeoutMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Activity (a phone seen, a browser back) is written at most this often, so it does not cost a row per request. */
export const ACTIVITY_RESOLUTION_MS = 60 * 60 * 1000;

export function positiveInteger(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) && parsed > 0 ? parsed : fallback;
}

/** The most tokens a session's schedule may hold, whatever TOKEN_COUNT says. */
export const MAX_TOKEN_COUNT = 30;

export function sessionConfig(env: Env): SessionConfig {
  return {
    firstTokenTtlMs: positiveInteger(env.TOKEN_FIRST_TTL_MS, 60_000),
    tokenTtlMs: positiveInteger(env.TOKEN_TTL_MS, 20_000),
    // A waiting session, its whole schedule included, lives on its socket's attachment (16 KiB at most): 30 tokens keep it far under.
    tokenCount: Math.min(positiveInteger(env.TOKEN_COUNT, 6), MAX_TOKEN_COUNT),
    graceMs: positiveInteger(env.TOKEN_GRACE_MS, 5_000),
    confirmTimeoutMs: positiveInteger(env.CONFIRM_TIMEOUT_MS, 60_000),
    phoneOfflineMs: positiveInteger(env.PHONE_OFFLINE_MS, 15_000),
    deviceIdleMs: positiveInteger(env.DEVICE_IDLE_MS, 30 * DAY_MS),
    socketIdleMs: positiveInteger(env.SOCKET_IDLE_MS, 60_000),
    challengeTimeoutMs: positiveInteger(env.CHALLENGE_TIMEOUT_MS, 10_000),
    socketMessagesPerSecond: positiveInteger(env.SOCKET_MESSAGES_PER_SECOND, 500),
    codeTtlMs: positiveInteger(env.CODE_TTL_MS, 180_000),
    codeTries: positiveInteger(env.CODE_TRIES, 3),
    codeVerdictTimeoutMs: positiveInteger(env.CODE_VERDICT_TIMEOUT_MS, 10_000),
    relayAckWaitMs: positiveInteger(env.RELAY_ACK_WAIT_MS, 100),
  };
}

export function signedRequestWindowMs(env: Env): number {
  return positiveInteger(env.SIGNED_REQUEST_WINDOW_MS, 60_000);
}

/** A phone unseen this long has all its linked browsers logged out. */
export function phoneAbsentMs(env: Env): number {
  return positiveInteger(env.PHONE_ABSENT_MS, 14 * DAY_MS);
}

/**
 * The site's own origin, which browser sockets must come from and phone
 * signatures name the host of: SITE_ORIGIN. Left empty (local development),
 * the request's own origin stands in, but only for a loopback host
 * (127.0.0.0/8, [::1], localhost), so a DNS-rebinding page under another
 * name is not taken for the site. Null when neither holds: the request is
 * refused, never answered under a name the Worker made up from `Host`.
 */
export function siteOrigin(env: Env, requestUrl: string): string | null {
  const configured = (env.SITE_ORIGIN ?? "").trim();
  if (configured) return originOf(configured);
  const own = new URL(requestUrl);
  return isLoopback(own.hostname) ? own.origin : null;
}

/** Why `siteOrigin` has none, for the refusal: SITE_ORIGIN unset, or set to something that is not an origin. */
export function noSiteOriginReason(env: Env): string {
  return (env.SITE_ORIGIN ?? "").trim()
    ? "this server's SITE_ORIGIN is not an http(s) origin such as https://qr.example; the deployment must fix it"
    : "this server has no SITE_ORIGIN set and is not reached on a loopback address";
}

function originOf(text: string): string | null {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:" ? url.origin : null;
  } catch {
    return null;
  }
}

/** 127.0.0.0/8, ::1, localhost and its subdomains (which resolve to loopback by RFC 6761). */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Other origins whose pages may open browser sockets (comma-separated ALLOWED_ORIGINS); the site's own always may. */
export function allowedOrigins(env: Env): string[] {
  return (env.ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);
}
