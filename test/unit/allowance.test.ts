import { describe, expect, it } from "vitest";
import { fullAllowance, spend, type Allowance } from "../../src/worker/pairing-session/allowance";

const T0 = 1_700_000_000_000;

/** Spends `count` messages at `now` and returns how many were allowed. */
function burst(allowance: Allowance, rate: number, now: number, count: number): number {
  let allowed = 0;
  for (let i = 0; i < count; i++) if (spend(allowance, rate, now).allowed) allowed++;
  return allowed;
}

describe("message allowance", () => {
  it("starts full: a burst of two seconds' worth is allowed, the next message refused", () => {
    const rate = 5;
    const allowance = fullAllowance(rate, T0);
    expect(burst(allowance, rate, T0, 2 * rate)).toBe(2 * rate);
    expect(spend(allowance, rate, T0).allowed).toBe(false);
  });

  it("refills at `rate` a second", () => {
    const rate = 10;
    const allowance = fullAllowance(rate, T0);
    burst(allowance, rate, T0, 2 * rate);
    // Half a second brings back five messages, and no more.
    expect(burst(allowance, rate, T0 + 500, 6)).toBe(5);
  });

  it("refills no further than the burst, however long the socket was quiet", () => {
    const rate = 10;
    const allowance = fullAllowance(rate, T0);
    burst(allowance, rate, T0, 2 * rate);
    expect(burst(allowance, rate, T0 + 3_600_000, 5 * rate)).toBe(2 * rate);
  });

  it("a steady sender at the rate is never refused", () => {
    const rate = 4;
    const allowance = fullAllowance(rate, T0);
    burst(allowance, rate, T0, 2 * rate);
    for (let i = 1; i <= 100; i++) expect(spend(allowance, rate, T0 + i * 250).allowed).toBe(true);
  });

  it("announces a refusal once, with how long to wait for one message", () => {
    const rate = 5;
    const allowance = fullAllowance(rate, T0);
    burst(allowance, rate, T0, 2 * rate);
    expect(spend(allowance, rate, T0)).toEqual({ allowed: false, tell: { retryAfterMs: 200 } });
    // Told already: further refusals during the wait are silent.
    expect(spend(allowance, rate, T0)).toEqual({ allowed: false, tell: null });
    expect(spend(allowance, rate, T0 + 150)).toEqual({ allowed: false, tell: null });
  });

  it("counts the part of a message already refilled in the wait it announces", () => {
    const rate = 5;
    const allowance = fullAllowance(rate, T0);
    burst(allowance, rate, T0, 2 * rate);
    // 50 ms refilled a quarter of a message: three quarters are missing, 150 ms.
    expect(spend(allowance, rate, T0 + 50)).toEqual({ allowed: false, tell: { retryAfterMs: 150 } });
  });

  it("accepts the message sent when the announced wait is over", () => {
    const rate = 5;
    const allowance = fullAllowance(rate, T0);
    burst(allowance, rate, T0, 2 * rate);
    const refused = spend(allowance, rate, T0);
    if (refused.allowed || !refused.tell) throw new Error("expected an announced refusal");
    expect(spend(allowance, rate, T0 + refused.tell.retryAfterMs)).toEqual({ allowed: true });
  });

  it("announces again after the wait, when the socket overruns its allowance anew", () => {
    const rate = 5;
    const allowance = fullAllowance(rate, T0);
    burst(allowance, rate, T0, 2 * rate);
    expect(spend(allowance, rate, T0).allowed).toBe(false);
    expect(spend(allowance, rate, T0 + 200)).toEqual({ allowed: true });
    expect(spend(allowance, rate, T0 + 200)).toEqual({ allowed: false, tell: { retryAfterMs: 200 } });
  });

  it("accepts the message sent when the wait is over even if the socket kept sending during it", () => {
    // Refused messages still advance the refill in small steps; their rounding must not cost the wait it announced.
    const rate = 100;
    const allowance = fullAllowance(rate, T0);
    burst(allowance, rate, T0, 2 * rate);
    const refused = spend(allowance, rate, T0);
    if (refused.allowed || !refused.tell) throw new Error("expected an announced refusal");
    const { retryAfterMs } = refused.tell;
    expect(retryAfterMs).toBe(10);
    for (let t = 1; t < retryAfterMs; t++) expect(spend(allowance, rate, T0 + t)).toEqual({ allowed: false, tell: null });
    expect(spend(allowance, rate, T0 + retryAfterMs)).toEqual({ allowed: true });
  });
});
