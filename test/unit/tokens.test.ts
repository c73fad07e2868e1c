import { timingSafeEqual } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { fromBase64url, randomBase64url } from "../../src/shared/crypto";
import { LIMITS } from "../../src/shared/protocol";
import { afterWrongScan, isLastToken, isLiveToken, issueTokens, onScreen, replaceFrom, scheduled, scheduleEnd, type LiveTokens, type Token, type TokenSchedule } from "../../src/worker/pairing-session/tokens";

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

describe("issueTokens", () => {
  it("issues the whole schedule: the first token for 60 s, then 20 s each, 6 in all, each window starting where the last ended", () => {
    const live = issueTokens(schedule, T0);
    expect(scheduled(live).map(({ seq, startsAt, expiresAt }) => ({ seq, startsAt: startsAt - T0, expiresAt: expiresAt - T0 }))).toEqual([
      { seq: 0, startsAt: 0, expiresAt: 60_000 },
      { seq: 1, startsAt: 60_000, expiresAt: 80_000 },
      { seq: 2, startsAt: 80_000, expiresAt: 100_000 },
      { seq: 3, startsAt: 100_000, expiresAt: 120_000 },
      { seq: 4, startsAt: 120_000, expiresAt: 140_000 },
      { seq: 5, startsAt: 140_000, expiresAt: 160_000 },
    ]);
    expect(scheduleEnd(live)).toBe(T0 + 160_000);
  });

  it("makes each token 16 random bytes in base64url, all different", () => {
    const tokens = [...issueTokens(schedule, T0).tokens, ...issueTokens(schedule, T0).tokens].map((issued) => issued.token);
    expect(tokens.every((value) => fromBase64url(value)?.length === 16)).toBe(true);
    expect(new Set(tokens).size).toBe(12);
  });
});

describe("onScreen", () => {
  const live = issueTokens(schedule, T0);

  it("is the token whose window holds the time, none before the schedule or after its end", () => {
    expect(onScreen(live, T0 - 1)).toBeNull();
    expect(onScreen(live, T0)?.seq).toBe(0);
    expect(onScreen(live, T0 + 59_999)?.seq).toBe(0);
    expect(onScreen(live, T0 + 60_000)?.seq).toBe(1);
    expect(onScreen(live, T0 + 159_999)?.seq).toBe(5);
    expect(onScreen(live, T0 + 160_000)).toBeNull();
  });
});

describe("isLastToken", () => {
  it("is true only for token tokenCount - 1", () => {
    expect(isLastToken(schedule, token(0, T0))).toBe(false);
    expect(isLastToken(schedule, token(schedule.tokenCount - 2, T0))).toBe(false);
    expect(isLastToken(schedule, token(schedule.tokenCount - 1, T0))).toBe(true);
  });
});

describe("isLiveToken", () => {
  const live = issueTokens(schedule, T0);
  const [first, second] = live.tokens as [Token, Token];
  const last = live.tokens.at(-1)!;

  it("accepts a token in its window", () => {
    expect(isLiveToken(schedule, live, first.token, T0)).toBe(true);
    expect(isLiveToken(schedule, live, second.token, T0 + 60_000)).toBe(true);
    expect(isLiveToken(schedule, live, second.token, T0 + 79_999)).toBe(true);
  });

  it("refuses a token before its window opens, though the browser already holds it", () => {
    expect(isLiveToken(schedule, live, second.token, T0)).toBe(false);
    expect(isLiveToken(schedule, live, second.token, T0 + 59_999)).toBe(false);
    expect(isLiveToken(schedule, live, last.token, T0 + 139_999)).toBe(false);
  });

  it("keeps accepting a token for the grace after its window, then refuses it", () => {
    expect(isLiveToken(schedule, live, first.token, T0 + 60_000 + schedule.graceMs - 1)).toBe(true);
    expect(isLiveToken(schedule, live, first.token, T0 + 60_000 + schedule.graceMs)).toBe(false);
  });

  it("gives the last token no grace: its expiry ends the session", () => {
    expect(isLiveToken(schedule, live, last.token, last.expiresAt - 1)).toBe(true);
    expect(isLiveToken(schedule, live, last.token, last.expiresAt)).toBe(false);
  });

  it("refuses a token that was not issued", () => {
    expect(isLiveToken(schedule, live, randomBase64url(16), T0)).toBe(false);
  });

  it("refuses malformed candidates: not base64url, padded, another spelling of the same bytes, empty, or a prefix", () => {
    // 16 bytes leave the last of 22 characters four unused bits; setting one spells the same bytes non-canonically.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const alias = first.token.slice(0, -1) + alphabet[alphabet.indexOf(first.token.at(-1)!) + 1];
    for (const candidate of [`${first.token.slice(0, -1)}+`, `${first.token}=`, " " + first.token, alias, "", first.token.slice(0, 20)]) {
      expect(isLiveToken(schedule, live, candidate, T0), JSON.stringify(candidate)).toBe(false);
    }
  });

  it("refuses everything once no tokens are left", () => {
    const none: LiveTokens = { from: T0, tokens: [] };
    expect(isLiveToken(schedule, none, "", T0)).toBe(false);
    expect(isLiveToken(schedule, none, first.token, T0)).toBe(false);
  });
});

describe("replaceFrom", () => {
  it("puts the next token on screen now and the rest after it; every token before is withdrawn, with no grace", () => {
    const live = issueTokens(schedule, T0);
    const now = T0 + 30_000;
    const replaced = replaceFrom(schedule, onScreen(live, now)!, now);
    expect(scheduled(replaced).map(({ seq, startsAt }) => ({ seq, startsAt: startsAt - now }))).toEqual([1, 2, 3, 4, 5].map((seq, index) => ({ seq, startsAt: index * 20_000 })));
    expect(isLiveToken(schedule, replaced, live.tokens[0]!.token, now)).toBe(false);
    expect(isLiveToken(schedule, replaced, live.tokens[1]!.token, T0 + 60_000)).toBe(false);
    expect(isLiveToken(schedule, replaced, replaced.tokens[0]!.token, now)).toBe(true);
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

  it("with nothing on screen (the schedule is over), ends the session where it would have replaced the code", () => {
    expect(afterWrongScan(schedule, LIMITS.failedScansBeforeRotation, null)).toBe("end");
  });

  it("with the last token on screen, ends the session where it would have replaced the code", () => {
    expect(afterWrongScan(schedule, LIMITS.failedScansBeforeRotation - 1, last)).toBe("nothing");
    expect(afterWrongScan(schedule, LIMITS.failedScansBeforeRotation, last)).toBe("end");
  });
});
