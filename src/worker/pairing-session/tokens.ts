// The rotating token as pure functions of the schedule and the clock: which
// token comes next, which tokens a scan may still use, and what a wrong scan
// costs. The session's store persists what these decide.
import { fromBase64url, randomBase64url } from "../../shared/crypto";
import { LIMITS } from "../../shared/protocol";

export interface TokenSchedule {
  firstTokenTtlMs: number;
  tokenTtlMs: number;
  tokenCount: number;
  /** How long a token stays accepted after the next one replaced it. */
  graceMs: number;
}

export interface Token {
  seq: number;
  token: string;
  expiresAt: number;
}

/** The current token, and the one it replaced while that one's grace lasts. */
export interface LiveTokens {
  current: Token;
  previous: { token: string; expiresAt: number } | null;
}

export function firstToken(schedule: TokenSchedule, now: number): Token {
  return { seq: 0, token: randomBase64url(16), expiresAt: now + schedule.firstTokenTtlMs };
}

/** Whether `current` is the last token, whose expiry ends the session. */
export function isLastToken(schedule: TokenSchedule, current: Token): boolean {
  return current.seq + 1 >= schedule.tokenCount;
}

/** The token after `current`, anchored to the schedule: a late rotation shortens one token instead of shifting all of them. */
export function nextToken(schedule: TokenSchedule, current: Token, now: number): Token {
  const scheduled = current.expiresAt + schedule.tokenTtlMs;
  return { seq: current.seq + 1, token: randomBase64url(16), expiresAt: scheduled > now ? scheduled : now + schedule.tokenTtlMs };
}

/**
 * Compares with both live tokens in constant time. The previous token lives
 * `graceMs` past its rotation; so does the current one while its rotation is
 * due, except the last, whose expiry ends the session.
 */
export function isLiveToken(schedule: TokenSchedule, tokens: LiveTokens, candidate: string, now: number): boolean {
  const candidateBytes = fromBase64url(candidate);
  if (!candidateBytes) return false;
  const currentGrace = isLastToken(schedule, tokens.current) ? 0 : schedule.graceMs;
  const live = [
    { token: tokens.current.token, acceptedUntil: tokens.current.expiresAt + currentGrace },
    { token: tokens.previous?.token ?? null, acceptedUntil: (tokens.previous?.expiresAt ?? 0) + schedule.graceMs },
  ];
  let match = false;
  for (const { token, acceptedUntil } of live) {
    const bytes = token ? fromBase64url(token) : null;
    const equal = bytes !== null && bytes.length === candidateBytes.length && crypto.subtle.timingSafeEqual(bytes, candidateBytes);
    if (equal && now < acceptedUntil) match = true;
  }
  return match;
}

/**
 * Someone is guessing: after a few wrong scans the code on screen is replaced
 * at once (no grace for the old one), after more the session ends. With the
 * last token on screen there is nothing to replace it with, so it ends then.
 */
export function afterWrongScan(schedule: TokenSchedule, failedScans: number, current: Token): "nothing" | "replace" | "end" {
  if (failedScans >= LIMITS.failedScansBeforeEnd) return "end";
  if (failedScans !== LIMITS.failedScansBeforeRotation) return "nothing";
  return isLastToken(schedule, current) ? "end" : "replace";
}
