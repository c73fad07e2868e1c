// Each socket's message allowance: a token bucket refilled at `rate` a second
// up to a burst of two seconds' worth. Pure, so the object keeps one per
// socket in memory (a socket that hibernated was quiet and starts full).

export interface Allowance {
  messages: number;
  /** When the socket last sent a message (its heartbeats are answered by the runtime and tracked there). */
  lastMessageAt: number;
  /** Refusals before this time are not announced again: the socket was already told to wait until then. */
  quietUntil: number;
}

export type AllowanceDecision = { allowed: true } | { allowed: false; tell: { retryAfterMs: number } | null };

export function fullAllowance(rate: number, now: number): Allowance {
  return { messages: 2 * rate, lastMessageAt: now, quietUntil: 0 };
}

/** Counts one message; over the allowance it is refused, and the socket is told when to retry once per wait. */
export function spend(allowance: Allowance, rate: number, now: number): AllowanceDecision {
  allowance.messages = Math.min(2 * rate, allowance.messages + ((now - allowance.lastMessageAt) * rate) / 1000);
  allowance.lastMessageAt = now;
  // Refills add fractions: allow for rounding, so a socket told to wait is never refused at the moment its wait ends.
  if (allowance.messages >= 1 - 1e-9) {
    allowance.messages = Math.max(0, allowance.messages - 1);
    return { allowed: true };
  }
  if (now < allowance.quietUntil) return { allowed: false, tell: null };
  const retryAfterMs = Math.ceil(((1 - allowance.messages) * 1000) / rate);
  allowance.quietUntil = now + retryAfterMs;
  return { allowed: false, tell: { retryAfterMs } };
}
