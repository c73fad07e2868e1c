import { describe, expect, it } from "vitest";
import { TokenSchedule, type TokenMessage } from "../../src/clients/browser/token-schedule";

const T0 = 1_700_000_000_000;

function token(seq: number, startsAt: number, expiresAt: number, value = `token-${seq}`): TokenMessage {
  return { type: "token", token: value, seq, count: 6, startsAt, expiresAt };
}

/** The six tokens of a session opened at T0, in the server's clock. */
function schedule(serverAheadMs: number): TokenSchedule {
  const tokens = new TokenSchedule(serverAheadMs);
  const windows = [0, 60_000, 80_000, 100_000, 120_000, 140_000, 160_000];
  // As the server sends them: the upcoming ones first, the one on screen now last.
  for (const seq of [1, 2, 3, 4, 5, 0]) tokens.add(token(seq, T0 + windows[seq]!, T0 + windows[seq + 1]!));
  return tokens;
}

describe("TokenSchedule", () => {
  it("shows each token from the start of its window, and says when the next one begins", () => {
    const tokens = schedule(0);
    expect(tokens.due(T0)?.seq).toBe(0);
    expect(tokens.nextChangeAt(T0)).toBe(T0 + 60_000);
    expect(tokens.due(T0 + 59_999)?.seq).toBe(0);
    expect(tokens.due(T0 + 60_000)?.seq).toBe(1);
    expect(tokens.nextChangeAt(T0 + 60_000)).toBe(T0 + 80_000);
    expect(tokens.due(T0 + 150_000)?.seq).toBe(5);
    expect(tokens.nextChangeAt(T0 + 150_000)).toBeNull();
  });

  it("reads the windows in the server's clock: a tab whose clock is behind changes codes at the server's times", () => {
    const tokens = schedule(5_000);
    expect(tokens.due(T0 + 54_999)?.seq).toBe(0);
    expect(tokens.due(T0 + 55_000)?.seq).toBe(1);
    expect(tokens.nextChangeAt(T0)).toBe(T0 + 55_000);
  });

  it("shows the first token while none has begun (a tab slightly ahead of the server)", () => {
    expect(schedule(-2_000).due(T0)?.seq).toBe(0);
  });

  it("shows a replacement at once: it begins now, later than the token it replaces", () => {
    const tokens = schedule(0);
    const now = T0 + 30_000;
    for (const seq of [1, 2, 3, 4, 5]) tokens.add(token(seq, now + (seq - 1) * 20_000, now + seq * 20_000, `replacement-${seq}`));
    expect(tokens.due(now)).toMatchObject({ seq: 1, token: "replacement-1" });
    expect(tokens.nextChangeAt(now)).toBe(now + 20_000);
  });
});
