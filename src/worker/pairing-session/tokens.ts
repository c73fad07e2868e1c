// The rotating tokens as pure functions of the schedule and the clock. A QR
// session issues its whole schedule when it opens and hands it to the
// browser, which shows each token in its window: the object need not wake to
// rotate. Which token a scan may use is decided here from the clock alone,
// and what a wrong scan costs. The session's store keeps what these decide.
import { fromBase64url, randomBase64url } from "../../shared/crypto";
import { LIMITS } from "../../shared/protocol";

export interface TokenSchedule {
  firstTokenTtlMs: number;
  tokenTtlMs: number;
  tokenCount: number;
  /** How long a token stays accepted after its window closed (the next one is on screen). */
  graceMs: number;
}

export interface Token {
  seq: number;
  token: string;
  expiresAt: number;
}

/** The tokens still to show: the first is on screen from `from`, each next one from the expiry of the one before. */
export interface LiveTokens {
  from: number;
  tokens: Token[];
}

/** A token with the start of its window. */
export type ScheduledToken = Token & { startsAt: number };

/** The schedule from `from`, beginning at `firstSeq` (the first token of a session lives longer). */
export function issueTokens(schedule: TokenSchedule, from: number, firstSeq = 0): LiveTokens {
  const tokens: Token[] = [];
  let expiresAt = from + (firstSeq === 0 ? schedule.firstTokenTtlMs : schedule.tokenTtlMs);
  for (let seq = firstSeq; seq < schedule.tokenCount; seq++) {
    tokens.push({ seq, token: randomBase64url(16), expiresAt });
    expiresAt += schedule.tokenTtlMs;
  }
  return { from, tokens };
}

/** Each token with the start of its window. */
export function scheduled(live: LiveTokens): ScheduledToken[] {
  return live.tokens.map((token, index) => ({ ...token, startsAt: index === 0 ? live.from : live.tokens[index - 1]!.expiresAt }));
}

/** The token on screen at `now`, or null before the schedule or after its last token. */
export function onScreen(live: LiveTokens, now: number): Token | null {
  return scheduled(live).find((token) => token.startsAt <= now && now < token.expiresAt) ?? null;
}

/** When the last token expires: the session ends then. */
export function scheduleEnd(live: LiveTokens): number {
  return live.tokens.at(-1)?.expiresAt ?? live.from;
}

/** Whether `token` is the last of the schedule, whose expiry ends the session. */
export function isLastToken(schedule: TokenSchedule, token: Token): boolean {
  return token.seq + 1 >= schedule.tokenCount;
}

/**
 * Compares with every issued token in constant time; a match counts only in
 * its window: not before it starts, and until `graceMs` after it ends (the
 * last token has no grace, its expiry ends the session).
 */
export function isLiveToken(schedule: TokenSchedule, live: LiveTokens, candidate: string, now: number): boolean {
  const candidateBytes = fromBase64url(candidate);
  if (!candidateBytes) return false;
  let match = false;
  for (const token of scheduled(live)) {
    const bytes = fromBase64url(token.token);
    const equal = bytes !== null && bytes.length === candidateBytes.length && crypto.subtle.timingSafeEqual(bytes, candidateBytes);
    const acceptedUntil = token.expiresAt + (isLastToken(schedule, token) ? 0 : schedule.graceMs);
    if (equal && token.startsAt <= now && now < acceptedUntil) match = true;
  }
  return match;
}

/**
 * Someone is guessing: after a few wrong scans the code on screen is replaced
 * at once (no grace for the old one), after more the session ends. With the
 * last token on screen there is nothing to replace it with, so it ends then.
 */
export function afterWrongScan(schedule: TokenSchedule, failedScans: number, current: Token | null): "nothing" | "replace" | "end" {
  if (failedScans >= LIMITS.failedScansBeforeEnd) return "end";
  if (failedScans !== LIMITS.failedScansBeforeRotation) return "nothing";
  return !current || isLastToken(schedule, current) ? "end" : "replace";
}

/** The schedule after a replacement: the next token on screen from `now`, the rest after it, every token before withdrawn. */
export function replaceFrom(schedule: TokenSchedule, current: Token, now: number): LiveTokens {
  return issueTokens(schedule, now, current.seq + 1);
}
