import { describe, expect, it } from "vitest";
import { Backoff } from "../../src/clients/connection/backoff";

describe("the reconnect backoff", () => {
  it("doubles from half a second up to ten seconds, and starts over once the server answered", () => {
    const backoff = new Backoff(() => 0.5);
    expect(Array.from({ length: 7 }, () => backoff.next())).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    backoff.reset();
    expect(backoff.next()).toBe(500);
  });

  it("spreads each wait by a fifth either way, so clients that lost the server together come back apart", () => {
    expect(new Backoff(() => 0).next()).toBe(400);
    expect(new Backoff(() => 0.999999).next()).toBe(600);
    const waits = new Set(Array.from({ length: 50 }, () => new Backoff().next()));
    expect(waits.size).toBeGreaterThan(10);
    for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(400);
  });
});
