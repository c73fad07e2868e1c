import { timingSafeEqual } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { fromBase64url, randomBase64url } from "../../src/shared/crypto";
import { LIMITS } from "../../src/shared/protocol";
import { afterWrongScan, firstToken, isLastToken, isLiveToken, nextToken, type LiveTokens, type Token, type TokenSchedule } from "../../src/worker/pairing-session/tokens";

beforeAll(() => {
  // `crypto.subtle.timingSafeEqual` is a Workers extension that Node lacks; isLiveToken calls it.
  if (!("timingSafeEqual" in crypto.subtle)) {
    Object.defineProperty(crypto.subtle, "timingSafeEqual", {
      configurable: true,
      value: (a: ArrayBuffer | ArrayBufferView, b: ArrayBuffer | ArrayBufferView) => timingSafeEqual(bytesOf(a), bytesOf(b)),
    });
  }
});

function bytesOf(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
}

const schedule: TokenSchedule = { firstTokenTtlMs: 60_000, tokenTtlMs: 20_000, tokenCount: 6, graceMs: 5_000 };
const T0 = 1_700_000_000_000;

function token(seq: number, expiresAt: number): Token {
  return { seq, token: randomBase64url(16), expiresAt };
}

describe("firstToken", () => {
  it("is token 0 of the schedule, valid for the first TTL", () => {
    const first = firstToken(schedule, T0);
    expect(first.seq).toBe(0);
    expect(first.expiresAt).toBe(T0 + schedule.firstTokenTtlMs);
  });

  it("is 16 random bytes in base64url, different each time", () => {
    const a = firstToken(schedule, T0);
    const b = firstToken(schedule, T0);
    expect(fromBase64url(a.token)?.length).toBe(16);
    expect(fromBase64url(b.token)?.length).toBe(16);
    expect(a.token).not.toBe(b.token);
  });
});

describe("nextToken", () => {
  it("rotated on time, follows the current token by one TTL with a fresh value", () => {
    const current = firstToken(schedule, T0);
    const next = nextToken(schedule, current, current.expiresAt);
    expect(next.seq).toBe(1);
    expect(next.expiresAt).toBe(current.expiresAt + schedule.tokenTtlMs);
    expect(next.token).not.toBe(current.token);
    expect(fromBase64url(next.token)?.length).toBe(16);
  });

  it("rotated late, keeps the schedule: the late token is shorter, not the schedule shifted", () => {
    const current = firstToken(schedule, T0);
    const next = nextToken(schedule, current, current.expiresAt + 3_000);
    expect(next.expiresAt).toBe(current.expiresAt + schedule.tokenTtlMs);
  });

  it("rotated a whole TTL late or more, gets a full TTL from now rather than an already expired slot", () => {
    const current = firstToken(schedule, T0);
    const atSlotEnd = current.expiresAt + schedule.tokenTtlMs;
    expect(nextToken(schedule, current, atSlotEnd).expiresAt).toBe(atSlotEnd + schedule.tokenTtlMs);
    const muchLater = current.expiresAt + 90_000;
    expect(nextToken(schedule, current, muchLater).expiresAt).toBe(muchLater + schedule.tokenTtlMs);
  });

  it("a chain of slightly late rotations ends when the schedule says", () => {
    let current = firstToken(schedule, T0);
    while (!isLastToken(schedule, current)) current = nextToken(schedule, current, current.expiresAt + 700);
    expect(current.seq).toBe(schedule.tokenCount - 1);
    expect(current.expiresAt).toBe(T0 + schedule.firstTokenTtlMs + (schedule.tokenCount - 1) * schedule.tokenTtlMs);
  });
});

describe("isLastToken", () => {
  it("is true only for token tokenCount - 1", () => {
    expect(isLastToken(schedule, token(0, T0))).toBe(false);
    expect(isLastToken(schedule, token(schedule.tokenCount - 2, T0))).toBe(false);
    expect(isLastToken(schedule, token(schedule.tokenCount - 1, T0))).toBe(true);
  });

  it("with a one-token schedule, the first token is the last", () => {
    expect(isLastToken({ ...schedule, tokenCount: 1 }, firstToken(schedule, T0))).toBe(true);
  });
});

describe("isLiveToken", () => {
  const current = token(2, T0 + 20_000);

  it("accepts the current token before it expires", () => {
    const tokens: LiveTokens = { current, previous: null };
    expect(isLiveToken(schedule, tokens, current.token, T0)).toBe(true);
    expect(isLiveToken(schedule, tokens, current.token, current.expiresAt - 1)).toBe(true);
  });

  it("keeps accepting the current token for the grace while its rotation is due, then refuses it", () => {
    const tokens: LiveTokens = { current, previous: null };
    expect(isLiveToken(schedule, tokens, current.token, current.expiresAt)).toBe(true);
    expect(isLiveToken(schedule, tokens, current.token, current.expiresAt + schedule.graceMs - 1)).toBe(true);
    expect(isLiveToken(schedule, tokens, current.token, current.expiresAt + schedule.graceMs)).toBe(false);
  });

  it("gives the last token no grace: its expiry ends the session", () => {
    const last = token(schedule.tokenCount - 1, T0 + 20_000);
    const tokens: LiveTokens = { current: last, previous: null };
    expect(isLiveToken(schedule, tokens, last.token, last.expiresAt - 1)).toBe(true);
    expect(isLiveToken(schedule, tokens, last.token, last.expiresAt)).toBe(false);
  });

  it("accepts the previous token until its grace ends, then refuses it", () => {
    const previous = { token: randomBase64url(16), expiresAt: T0 };
    const tokens: LiveTokens = { current, previous };
    expect(isLiveToken(schedule, tokens, previous.token, T0 + 1)).toBe(true);
    expect(isLiveToken(schedule, tokens, previous.token, T0 + schedule.graceMs - 1)).toBe(true);
    expect(isLiveToken(schedule, tokens, previous.token, T0 + schedule.graceMs)).toBe(false);
    // The current one is unaffected by the previous one's grace ending.
    expect(isLiveToken(schedule, tokens, current.token, T0 + schedule.graceMs)).toBe(true);
  });

  it("keeps the grace of the token before the last one", () => {
    const last = token(schedule.tokenCount - 1, T0 + 20_000);
    const previous = { token: randomBase64url(16), expiresAt: T0 };
    const tokens: LiveTokens = { current: last, previous };
    expect(isLiveToken(schedule, tokens, previous.token, T0 + schedule.graceMs - 1)).toBe(true);
  });

  it("refuses a token that is neither current nor previous", () => {
    const tokens: LiveTokens = { current, previous: { token: randomBase64url(16), expiresAt: T0 } };
    expect(isLiveToken(schedule, tokens, randomBase64url(16), T0)).toBe(false);
  });

  it("refuses malformed candidates: not base64url, padded, another spelling of the same bytes, empty, or a prefix", () => {
    const tokens: LiveTokens = { current, previous: null };
    // 16 bytes leave the last of 22 characters four unused bits; setting one spells the same bytes non-canonically.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const alias = current.token.slice(0, -1) + alphabet[alphabet.indexOf(current.token.at(-1)!) + 1];
    for (const candidate of [`${current.token.slice(0, -1)}+`, `${current.token}=`, " " + current.token, alias, "", current.token.slice(0, 20)]) {
      expect(isLiveToken(schedule, tokens, candidate, T0), JSON.stringify(candidate)).toBe(false);
    }
  });

  it("refuses everything once a scan spent the tokens (stored empty)", () => {
    const spent: LiveTokens = { current: { ...current, token: "" }, previous: { token: "", expiresAt: T0 } };
    expect(isLiveToken(schedule, spent, "", T0)).toBe(false);
    expect(isLiveToken(schedule, spent, current.token, T0)).toBe(false);
  });
});

describe("afterWrongScan", () => {
  const early = token(0, T0);
  const last = token(schedule.tokenCount - 1, T0);

  it("does nothing for the first few wrong scans", () => {
    for (let failed = 1; failed < LIMITS.failedScansBeforeRotation; failed++) expect(afterWrongScan(schedule, failed, early)).toBe("nothing");
  });

  it("replaces the code on screen exactly once, at the rotation threshold", () => {
    expect(afterWrongScan(schedule, LIMITS.failedScansBeforeRotation, early)).toBe("replace");
    for (let failed = LIMITS.failedScansBeforeRotation + 1; failed < LIMITS.failedScansBeforeEnd; failed++) {
      expect(afterWrongScan(schedule, failed, early)).toBe("nothing");
    }
  });

  it("ends the session at the end threshold and beyond", () => {
    expect(afterWrongScan(schedule, LIMITS.failedScansBeforeEnd, early)).toBe("end");
    expect(afterWrongScan(schedule, LIMITS.failedScansBeforeEnd + 1, early)).toBe("end");
  });

  it("with the last token on screen, ends the session where it would have replaced the code", () => {
    expect(afterWrongScan(schedule, LIMITS.failedScansBeforeRotation - 1, last)).toBe("nothing");
    expect(afterWrongScan(schedule, LIMITS.failedScansBeforeRotation, last)).toBe("end");
  });
});
