import { env, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { randomBase64url } from "../../src/shared/crypto";
import { CLOSE_CODES } from "../../src/shared/protocol";
import { RATE_LIMITS, type RateLimitRule } from "../../src/worker/rate-limit";
import type { Phone } from "../../src/clients/phone-core/phone";
import {
  clock,
  resumeBrowser,
  resumePath,
  endpoint,
  fetchWithRateLimiters,
  linkedPair,
  ORIGIN,
  randomAddress,
  randomNumber,
  registeredPhone,
  TestSocket,
  workerFetch,
} from "./helpers";

afterEach(() => clock.stop());

const SECOND = 1000;
const socketRate = Number(env.SOCKET_MESSAGES_PER_SECOND);

/** A Worker deployed without the rate-limiting bindings: it falls back to counting in its own isolate. */
const fetchWithoutBindings = fetchWithRateLimiters();

type Fetch = (request: Request) => Promise<Response>;

/** One request that counts against a rule for a given key; what it asks for does not matter, it is counted first. */
interface Counted {
  rule: RateLimitRule;
  prepare(): Promise<(fetch: Fetch) => Promise<Response>>;
}

const unsignedPost = (path: string, headers: Record<string, string>) => (fetch: Fetch) =>
  fetch(new Request(new URL(path, ORIGIN), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}" }));

/** A signed scan of a code that does not exist (each a new one, so none is a replay): 404 once the phone and its limit are checked. */
const scanOfNothing = (phone: Phone) => async (fetch: Fetch) => {
  const body = JSON.stringify({ sessionId: randomBase64url(16), token: randomBase64url(16), phonePublicKey: randomBase64url(32) });
  const headers = await phone.signatureHeaders("POST", "/api/link/inspect", body);
  return fetch(new Request(new URL("/api/link/inspect", ORIGIN), { method: "POST", headers: { "content-type": "application/json", ...headers }, body }));
};

/** Requests to `path` from one fresh address. */
const fromOneAddress = (rule: RateLimitRule, path: string): Counted => ({
  rule,
  prepare: async () => unsignedPost(path, { "cf-connecting-ip": randomAddress() }),
});

const COUNTED: Record<string, Counted> = {
  "registrations per address": fromOneAddress(RATE_LIMITS.registrationsPerIp, "/api/accounts"),
  "registrations per number": {
    rule: RATE_LIMITS.registrationsPerNumber,
    prepare: async () => {
      const number = randomNumber();
      return (fetch) => unsignedPost("/api/accounts", { "cf-connecting-ip": randomAddress(), "x-qrl-number": number })(fetch);
    },
  },
  "scans per address": fromOneAddress(RATE_LIMITS.scansPerIp, "/api/link/inspect"),
  "scans per number": {
    rule: RATE_LIMITS.scansPerNumber,
    prepare: async () => scanOfNothing(await registeredPhone()),
  },
};

async function expectRateLimited(response: Response, rule: RateLimitRule): Promise<void> {
  expect(response.status).toBe(429);
  expect(response.headers.get("retry-after")).toBe(String(rule.periodSeconds));
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
}

describe("rate limits on phone requests", () => {
  for (const [name, counted] of Object.entries(COUNTED)) {
    it(`limits ${name} with the rate-limiting binding`, async () => {
      const send = await counted.prepare();
      const limit = counted.rule.limit;
      // The binding counts in fixed windows of real time. A burst this short
      // crosses at most one window edge, so the first `limit` all pass and
      // one of the next `limit + 1` is refused, wherever the edge falls.
      const statuses: number[] = [];
      for (let i = 0; i < 2 * limit + 1; i++) {
        const response = await send((request) => workerFetch(request));
        statuses.push(response.status);
        if (response.status === 429) await expectRateLimited(response, counted.rule);
      }
      expect(statuses.slice(0, limit)).not.toContain(429);
      expect(statuses.slice(limit)).toContain(429);
      // Another key is untouched.
      const other = await counted.prepare();
      expect((await other((request) => workerFetch(request))).status).not.toBe(429);
    });

    it(`limits ${name} without the binding too, and lets the key in again in the next window`, async () => {
      clock.start();
      const send = await counted.prepare();
      for (let i = 0; i < counted.rule.limit; i++) expect((await send(fetchWithoutBindings)).status).not.toBe(429);
      await expectRateLimited(await send(fetchWithoutBindings), counted.rule);
      clock.advance(counted.rule.periodSeconds * SECOND);
      expect((await send(fetchWithoutBindings)).status).not.toBe(429);
    });
  }
});

describe("messages per socket", () => {
  /** Sends `count` copies of a frame the server already holds; each is answered `stored` and costs one message. */
  async function spend(socket: TestSocket, count: number): Promise<void> {
    const before = socket.all("stored").length;
    for (let i = 0; i < count; i++) socket.send({ type: "frame", seq: 1, data: "AAAA" });
    await socket.until(() => socket.all("stored").length === before + count, `${count} repeats answered`);
  }

  it("drops a message past a socket's allowance unstored, and tells the socket when to send again", async () => {
    clock.start();
    const pair = await linkedPair();
    const phone = pair.phoneSocket;
    phone.send({ type: "frame", seq: 1, data: "AAAA" });
    await pair.browser.waitFor("frame");
    // Its `stored` comes once its burst is written; every repeat after that is answered at once.
    await phone.waitFor("stored");
    await spend(phone, 2 * socketRate - 1);

    // One message over: a second one's refusal is silent, so nothing would say when it was handled (allowance.test.ts has "told once").
    phone.send({ type: "frame", seq: 2, data: "BBBB" });
    const refused = await phone.waitFor("error");
    expect(refused).toMatchObject({ type: "error", code: "rate_limited" });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(phone.all("stored").every((stored) => stored.seq === 1)).toBe(true);

    clock.advance(refused.retryAfterMs!);
    phone.send({ type: "frame", seq: 2, data: "BBBB" });
    expect(await phone.waitFor("stored", 2 * socketRate + 1)).toEqual({ type: "stored", seq: 2 });
    expect(phone.all("error")).toHaveLength(1);
    await pair.browser.waitFor("frame", 2);
    expect(pair.browser.all("frame").map((frame) => frame.seq)).toEqual([1, 2]);
  });

  it("loses nothing from a sender over its allowance: the refused frames are sent again and delivered once", async () => {
    clock.start();
    const pair = await linkedPair();
    const sessionId = pair.browser.sessionId;
    const phone = endpoint(pair.phoneSocket, sessionId, "to_browser", pair.phoneKeys);
    const browser = endpoint(pair.browser, sessionId, "to_phone", pair.browserKeys);
    await phone.channel.send("first");
    await pair.browser.until(() => browser.received.length === 1, "the first frame");
    await pair.phoneSocket.waitFor("stored");
    // The phone's time moves on as soon as it is told to wait, before its retry.
    pair.phoneSocket.subscribe((message) => message.type === "error" && clock.advance(message.retryAfterMs ?? 0));
    await spend(pair.phoneSocket, 2 * socketRate - 1);

    const texts = Array.from({ length: 20 }, (_, i) => `burst ${i + 1}`);
    for (const text of texts) await phone.channel.send(text);
    await pair.browser.until(() => browser.received.length === 21, "the burst at the browser");
    const refusals = pair.phoneSocket.all("error").length;
    expect(refusals).toBeGreaterThan(0);
    expect(browser.received).toEqual(["first", ...texts]);
    console.log(`over the allowance: 21 frames sent, ${browser.received.length} received, 0 lost, ${browser.received.length - new Set(browser.received).size} doubled, ${refusals} refusal(s) retried`);
  });
});

describe("idle sockets", () => {
  const idleMs = Number(env.SOCKET_IDLE_MS);
  const challengeMs = Number(env.CHALLENGE_TIMEOUT_MS);

  it("closes a reloaded browser that does not answer its challenge in time", async () => {
    const start = clock.start();
    const pair = await linkedPair();
    const silent = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    await silent.waitFor("challenge");

    clock.set(start + challengeMs - 1);
    await runDurableObjectAlarm(pair.browser.stub);
    expect(silent.closed).toBeNull();
    clock.set(start + challengeMs);
    await runDurableObjectAlarm(pair.browser.stub);
    expect(await silent.waitForClose()).toEqual({ code: CLOSE_CODES.heartbeat_timeout, reason: "challenge not answered" });
    expect(pair.browser.closed).toBeNull();
  });

  it("closes a linked browser's socket found silent for SOCKET_IDLE_MS, counted from its last message, when the object next wakes, and keeps the link", async () => {
    const start = clock.start();
    const pair = await linkedPair();
    // The phone keeps talking, and so wakes the object; the browser speaks once.
    let seq = 0;
    const phoneSpeaks = async (at: number) => {
      clock.set(at);
      pair.phoneSocket.send({ type: "frame", seq: ++seq, data: "AAAA" });
      await pair.phoneSocket.until(() => pair.phoneSocket.all("stored").some((stored) => stored.seq === seq), `frame ${seq} stored`);
    };
    await phoneSpeaks(start + idleMs / 2);
    pair.browser.send({ type: "presence_check" });
    expect(await pair.browser.waitFor("presence", 2)).toEqual({ type: "presence", phone: "online" });
    await phoneSpeaks(start + idleMs);
    await phoneSpeaks(start + idleMs / 2 + idleMs - 1);
    expect(pair.browser.closed).toBeNull();

    await phoneSpeaks(start + idleMs / 2 + idleMs + 1_000);
    expect(await pair.browser.waitForClose()).toEqual({ code: CLOSE_CODES.heartbeat_timeout, reason: "no heartbeat" });
    // Only the socket was idle: the browser comes back with its device key.
    expect((await resumeBrowser(pair.browser, pair.deviceKey)).all("ready")).toHaveLength(1);
  });
});
