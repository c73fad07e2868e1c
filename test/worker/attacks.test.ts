// The server-side findings of the security review (issue 13), each replayed
// as it was reproduced against a running server, and refused with its code.
import { createExecutionContext, env, listDurableObjectIds } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import worker from "../../src/worker/index";
import { generateIdentityKeyPair, randomBase64url, signKeyRotation, type IdentityKeyPair } from "../../src/shared/crypto";
import { Phone, type PhoneIdentity } from "../../src/clients/phone-core/phone";
import { CLOSE_CODES, displayNameSchema, LIMITS, SIGNATURE_HEADERS } from "../../src/shared/protocol";
import { isLoopback, siteOrigin } from "../../src/worker/config";
import { ADDRESS_HEADER, DEVICE_HEADER, PHONE_NUMBER_HEADER, SESSION_ID_HEADER, SOCKET_HEADER } from "../../src/worker/forwarded-headers";
import { API_HEADERS } from "../../src/worker/http";
import { RATE_LIMITS, type RateLimitRule } from "../../src/worker/rate-limit";
import {
  clock,
  errorCode,
  fetchWithRateLimiters,
  linkedPair,
  openPhoneSocket,
  ORIGIN,
  phoneFetch,
  randomAddress,
  randomLinkId,
  randomNumber,
  registeredPhone,
  signedPost,
  TestSocket,
  workerFetch,
} from "./helpers";

afterEach(() => clock.stop());

type Fetch = (request: Request) => Promise<Response>;

/** Through the runtime, with the rate-limiting bindings wrangler.toml declares. */
const withBindings: Fetch = (request) => workerFetch(request);
/** A Worker deployed without the bindings: it counts in its own isolate. */
const withoutBindings = fetchWithRateLimiters();

/** The Worker called directly with `env` (no runtime in between), so a test sees exactly what it reads of a body. */
function direct(request: Request, overrides: Partial<Env> = {}): Promise<Response> {
  return Promise.resolve(worker.fetch(request, { ...env, ...overrides } as Env, createExecutionContext()));
}

async function expectRefused(response: Response, status: number, code: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(await errorCode(response)).toBe(code);
}

/** Accepts and closes the socket of a 101, so the session it opened does not linger. */
function release(response: Response): void {
  if (response.webSocket) {
    response.webSocket.accept();
    response.webSocket.close(1000, "done");
  }
}

const upgrade = (path: string, headers: Record<string, string>) => new Request(new URL(path, ORIGIN), { headers: { upgrade: "websocket", ...headers } });

// ---------------------------------------------------------------------------
// 1. Unbounded creation

/** One request that counts against a rule under a given key: what it asks for does not matter, it is counted first. */
interface Counted {
  rule: RateLimitRule;
  /** A sender for one fresh key (address or account). */
  prepare(): Promise<(fetch: Fetch) => Promise<Response>>;
}

/** A phone request whose signature is checked after it is counted: refused 401 (missing signature) while under the limit. */
const unsignedPhoneRequests = (address: string): ((fetch: Fetch) => Promise<Response>)[] => [
  (fetch) => fetch(new Request(new URL("/api/link/confirm", ORIGIN), { method: "POST", headers: { "cf-connecting-ip": address, "content-type": "application/json" }, body: "{}" })),
  (fetch) => fetch(new Request(new URL("/api/link/reject", ORIGIN), { method: "POST", headers: { "cf-connecting-ip": address, "content-type": "application/json" }, body: "{}" })),
  (fetch) => fetch(new Request(new URL("/api/devices", ORIGIN), { headers: { "cf-connecting-ip": address } })),
  (fetch) => fetch(new Request(new URL("/api/devices/revoke", ORIGIN), { method: "POST", headers: { "cf-connecting-ip": address, "content-type": "application/json" }, body: "{}" })),
  (fetch) => fetch(new Request(new URL("/api/accounts/rotate-key", ORIGIN), { method: "POST", headers: { "cf-connecting-ip": address, "content-type": "application/json" }, body: "{}" })),
  (fetch) => fetch(upgrade(`/api/sessions/${randomBase64url(16)}/phone`, { "cf-connecting-ip": address })),
  (fetch) => fetch(upgrade(`/api/links/${randomLinkId()}/phone`, { "cf-connecting-ip": address })),
];

/** A signed revoke of a device that does not exist (each a new one, so none is a replay): 404 once the phone and its limit are checked. */
const revokeOfNothing = (phone: Phone) => async (fetch: Fetch) => {
  const body = JSON.stringify({ sessionId: randomBase64url(16) });
  const headers = await phone.signatureHeaders("POST", "/api/devices/revoke", body);
  return fetch(new Request(new URL("/api/devices/revoke", ORIGIN), { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": randomAddress(), ...headers }, body }));
};

const COUNTED: Record<string, Counted> = {
  "new pairing sessions per address": {
    rule: RATE_LIMITS.sessionsPerIp,
    prepare: async () => {
      const address = randomAddress();
      return async (fetch) => {
        const response = await fetch(upgrade("/api/sessions/connect", { origin: ORIGIN, "cf-connecting-ip": address }));
        release(response);
        return response;
      };
    },
  },
  "browser resumes per address": {
    rule: RATE_LIMITS.resumesPerIp,
    prepare: async () => {
      const address = randomAddress();
      return async (fetch) => {
        const response = await fetch(upgrade(`/api/sessions/${randomBase64url(16)}/browser`, { origin: ORIGIN, "cf-connecting-ip": address }));
        release(response);
        return response;
      };
    },
  },
  "phone requests per address (confirm, reject, devices, revoke, rotate-key, relay socket)": {
    rule: RATE_LIMITS.phoneRequestsPerIp,
    prepare: async () => {
      const requests = unsignedPhoneRequests(randomAddress());
      let next = 0;
      return (fetch) => requests[next++ % requests.length]!(fetch);
    },
  },
  "phone requests per account, after the signature": {
    rule: RATE_LIMITS.phoneRequestsPerNumber,
    prepare: async () => revokeOfNothing(await registeredPhone()),
  },
};

describe("1. unbounded creation: every route that reaches an object is rate-limited", () => {
  it("replays the attack: 200 sessions from one address in a burst; past 60 a minute they are refused 429 rate_limited", async () => {
    const address = randomAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) {
      const response = await workerFetch(upgrade("/api/sessions/connect", { origin: ORIGIN, "cf-connecting-ip": address }));
      statuses.push(response.status);
      if (response.status === 429) {
        expect(response.headers.get("retry-after")).toBe("60");
        expect(await errorCode(response)).toBe("rate_limited");
      }
      release(response);
    }
    // The binding counts in windows of real time; a burst crosses at most one edge.
    expect(statuses.filter((status) => status === 101).length).toBeLessThanOrEqual(2 * RATE_LIMITS.sessionsPerIp.limit);
    expect(statuses.slice(0, RATE_LIMITS.sessionsPerIp.limit)).not.toContain(429);
    expect(statuses).toContain(429);
  }, 60_000);

  for (const [name, counted] of Object.entries(COUNTED)) {
    it(`limits ${name} with the rate-limiting binding (${counted.rule.limit} every ${counted.rule.periodSeconds} s)`, async () => {
      const send = await counted.prepare();
      const limit = counted.rule.limit;
      const statuses: number[] = [];
      for (let i = 0; i < 2 * limit + 1; i++) {
        const response = await send(withBindings);
        statuses.push(response.status);
        if (response.status === 429) {
          expect(response.headers.get("retry-after")).toBe(String(counted.rule.periodSeconds));
          expect(await errorCode(response)).toBe("rate_limited");
        }
      }
      expect(statuses.slice(0, limit)).not.toContain(429);
      expect(statuses.slice(limit)).toContain(429);
      const other = await counted.prepare();
      expect((await other(withBindings)).status).not.toBe(429);
    }, 60_000);

    it(`limits ${name} without the binding too, and lets the key in again in the next window`, async () => {
      clock.start();
      const send = await counted.prepare();
      for (let i = 0; i < counted.rule.limit; i++) expect((await send(withoutBindings)).status).not.toBe(429);
      await expectRefused(await send(withoutBindings), 429, "rate_limited");
      clock.advance(counted.rule.periodSeconds * 1000);
      expect((await send(withoutBindings)).status).not.toBe(429);
    }, 60_000);
  }

  it("shares one budget across the phone routes of an address, and refuses each of them once it is spent", async () => {
    clock.start();
    const requests = unsignedPhoneRequests(randomAddress());
    for (let i = 0; i < RATE_LIMITS.phoneRequestsPerIp.limit; i++) await expectRefused(await requests[i % requests.length]!(withoutBindings), 401, "missing_signature");
    for (const request of requests) await expectRefused(await request(withoutBindings), 429, "rate_limited");
  }, 60_000);

  it("refuses a resume past the limit before the session's object is touched", async () => {
    clock.start();
    const address = randomAddress();
    for (let i = 0; i < RATE_LIMITS.resumesPerIp.limit; i++) release(await withoutBindings(upgrade(`/api/sessions/${randomBase64url(16)}/browser`, { origin: ORIGIN, "cf-connecting-ip": address })));
    const sessionId = randomBase64url(16);
    await expectRefused(await withoutBindings(upgrade(`/api/sessions/${sessionId}/browser`, { origin: ORIGIN, "cf-connecting-ip": address })), 429, "rate_limited");
    const touched = (await listDurableObjectIds(env.PAIRING_SESSION)).map((id) => id.toString());
    expect(touched).not.toContain(env.PAIRING_SESSION.idFromName(sessionId).toString());
  }, 60_000);

  it("counts an account only once its signature verified: forged requests in its name do not spend its budget", async () => {
    const phone = await registeredPhone();
    const forger = await generateIdentityKeyPair(false);
    const forged = new Phone(ORIGIN, { ...phone.identity, privateKey: forger.privateKey }, phoneFetch());
    for (let i = 0; i <= RATE_LIMITS.phoneRequestsPerNumber.limit; i++) {
      await expect(forged.devices()).rejects.toMatchObject({ status: 401, code: "bad_signature" });
    }
    await expect(phone.devices()).resolves.toEqual([]);
  }, 60_000);

  it("keys a request without an address under one shared key, never uncounted", async () => {
    clock.start();
    const headers = { origin: ORIGIN };
    const statuses: number[] = [];
    for (let i = 0; i <= RATE_LIMITS.resumesPerIp.limit; i++) {
      const response = await withoutBindings(upgrade(`/api/sessions/${randomBase64url(16)}/browser`, headers));
      statuses.push(response.status);
      release(response);
    }
    expect(statuses).toContain(429);
  }, 60_000);
});

// ---------------------------------------------------------------------------
// 2. Unbounded bodies

/** A body of `total` bytes made on demand, in `chunk`-byte pieces; `meter.pulled` says how much the Worker asked for. */
function meteredBody(total: number, chunk: number) {
  const meter = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (meter.pulled >= total) return controller.close();
        meter.pulled += chunk;
        controller.enqueue(new Uint8Array(chunk).fill(0x61));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, meter };
}

/**
 * A request with a body under another method. A Request cannot be built as
 * a GET with a body, but one can arrive from the network that way (a chunked
 * GET): the Worker sees exactly this.
 */
function asMethod(request: Request, method: string): Request {
  return new Proxy(request, {
    get(target, property) {
      if (property === "method") return method;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const MIB_64 = 64 * 1024 * 1024;

describe("2. unbounded bodies: every route has a body limit, checked before the body is read", () => {
  it("replays the attack: an unauthenticated GET /api/devices with a 64 MiB chunked body is refused 413 unread", async () => {
    const { stream, meter } = meteredBody(MIB_64, 64 * 1024);
    const post = new Request(new URL("/api/devices", ORIGIN), { method: "POST", headers: { "cf-connecting-ip": randomAddress() }, body: stream, duplex: "half" } as RequestInit);
    const response = await direct(asMethod(post, "GET"));
    await expectRefused(response, 413, "payload_too_large");
    expect(meter.pulled).toBe(0);
  });

  it("refuses a body on a WebSocket upgrade, and on the signed relay socket, unread", async () => {
    const sockets = ["/api/sessions/connect", `/api/sessions/${randomBase64url(16)}/browser`, `/api/sessions/${randomBase64url(16)}/phone`];
    for (const path of [...sockets, `/api/links/${randomLinkId()}/browser`, `/api/links/${randomLinkId()}/phone`]) {
      const { stream, meter } = meteredBody(MIB_64, 64 * 1024);
      const post = new Request(new URL(path, ORIGIN), { method: "POST", headers: { upgrade: "websocket", origin: ORIGIN, "cf-connecting-ip": randomAddress() }, body: stream, duplex: "half" } as RequestInit);
      await expectRefused(await direct(asMethod(post, "GET")), 413, "payload_too_large");
      expect(meter.pulled, path).toBe(0);
    }
  });

  it("refuses a declared body over 4 KiB from its Content-Length alone, on every route, before anything is counted", async () => {
    for (const path of ["/api/link/inspect", "/api/link/confirm", "/api/accounts/rotate-key", "/api/nowhere"]) {
      const response = await workerFetch(path, { method: "POST", headers: { "content-type": "application/json", "content-length": String(LIMITS.phoneRequestBytes + 1) }, body: "x".repeat(LIMITS.phoneRequestBytes + 1) });
      await expectRefused(response, 413, "payload_too_large");
    }
  });

  it("checks a chunked POST's time window and number before reading any of it", async () => {
    const phone = await registeredPhone();
    const cases: [Record<string, string>, string][] = [
      [{ ...(await phone.signatureHeaders("POST", "/api/link/confirm", "", String(Date.now() - 61_000))) }, "stale_request"],
      [{ ...(await phone.signatureHeaders("POST", "/api/link/confirm", "")), [SIGNATURE_HEADERS.number]: "not a number" }, "missing_signature"],
      [{}, "missing_signature"],
    ];
    for (const [headers, code] of cases) {
      const { stream, meter } = meteredBody(MIB_64, 1024);
      const request = new Request(new URL("/api/link/confirm", ORIGIN), { method: "POST", headers: { ...headers, "content-type": "application/json", "cf-connecting-ip": randomAddress() }, body: stream, duplex: "half" } as RequestInit);
      await expectRefused(await direct(request), 401, code);
      expect(meter.pulled, code).toBe(0);
    }
  });

  it("stops reading a well-signed chunked POST at 4 KiB and refuses it 413", async () => {
    const phone = await registeredPhone();
    const { stream, meter } = meteredBody(MIB_64, 1024);
    const headers = await phone.signatureHeaders("POST", "/api/link/confirm", "whatever was signed");
    const request = new Request(new URL("/api/link/confirm", ORIGIN), { method: "POST", headers: { ...headers, "content-type": "application/json", "cf-connecting-ip": randomAddress() }, body: stream, duplex: "half" } as RequestInit);
    await expectRefused(await direct(request), 413, "payload_too_large");
    expect(meter.pulled).toBeLessThanOrEqual(LIMITS.phoneRequestBytes + 2 * 1024);
  });
});

// ---------------------------------------------------------------------------
// 3. What a signature binds

describe("3. the signed text binds the number and the server", () => {
  it("replays the attack: one key registered for two numbers; a request signed for one is refused for the other (bad_signature)", async () => {
    const pair = await generateIdentityKeyPair(false);
    const first = new Phone(ORIGIN, { number: randomNumber(), name: "Alice", ...pair }, phoneFetch());
    const second = new Phone(ORIGIN, { number: randomNumber(), name: "Alice", ...pair }, phoneFetch());
    await first.register();
    await second.register();

    const headers = await first.signatureHeaders("GET", "/api/devices", "");
    const asSecond = await workerFetch("/api/devices", { headers: { ...headers, [SIGNATURE_HEADERS.number]: second.identity.number, "cf-connecting-ip": randomAddress() } });
    await expectRefused(asSecond, 401, "bad_signature");
    // The same signature, for the number it was made for, is good.
    const asFirst = await workerFetch("/api/devices", { headers: { ...headers, "cf-connecting-ip": randomAddress() } });
    expect(asFirst.status).toBe(200);
  });

  it("replays the attack: a request signed for another deployment is refused here, inside its window (bad_signature)", async () => {
    const phone = await registeredPhone();
    const elsewhere = new Phone("https://other-deployment.example", phone.identity, phoneFetch());
    const headers = await elsewhere.signatureHeaders("GET", "/api/devices", "");
    await expectRefused(await workerFetch("/api/devices", { headers: { ...headers, "cf-connecting-ip": randomAddress() } }), 401, "bad_signature");
  });

  it("binds the relay socket's subprotocol signature to the server too", async () => {
    const phone = await registeredPhone();
    const sessionId = randomBase64url(16);
    const elsewhere = new Phone("https://other-deployment.example", phone.identity, phoneFetch());
    const { protocols } = await elsewhere.relaySocket({ sessionId });
    const response = await workerFetch(`/api/sessions/${sessionId}/phone`, { headers: { upgrade: "websocket", "sec-websocket-protocol": protocols.join(", "), "cf-connecting-ip": randomAddress() } });
    await expectRefused(response, 401, "bad_signature");
  });

  it("takes the host from SITE_ORIGIN, not from the request: a spoofed Host does not change what must be signed", async () => {
    const phone = await registeredPhone();
    const spoofed = new Phone("https://evil.example", phone.identity);
    const headers = await spoofed.signatureHeaders("GET", "/api/devices", "");
    await expectRefused(await workerFetch("https://evil.example/api/devices", { headers: { ...headers, "cf-connecting-ip": randomAddress() } }), 401, "bad_signature");
    const honest = await phone.signatureHeaders("GET", "/api/devices", "");
    expect((await workerFetch("https://evil.example/api/devices", { headers: { ...honest, "cf-connecting-ip": randomAddress() } })).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------
// 4. Numbers are first come, first served; key rotation

const ROTATE = "/api/accounts/rotate-key";

interface RotationOptions {
  /** Sign the proof with this key instead of the new one. */
  proofKey?: CryptoKey;
  /** Sign the proof over this time instead of the request's. */
  proofTimestamp?: string;
}

/** A rotation request, built by hand so a test can send it twice or spoil its proof. */
async function rotationRequest(phone: Phone, next: IdentityKeyPair, options: RotationOptions = {}): Promise<() => Request> {
  const timestamp = String(Date.now());
  const { number, publicKey: oldPublicKey } = phone.identity;
  const proof = await signKeyRotation(options.proofKey ?? next.privateKey, {
    host: new URL(ORIGIN).host,
    number,
    oldPublicKey,
    newPublicKey: next.publicKey,
    timestamp: options.proofTimestamp ?? timestamp,
  });
  const body = JSON.stringify({ publicKey: next.publicKey, proof });
  const headers = { ...(await phone.signatureHeaders("POST", ROTATE, body, timestamp)), "content-type": "application/json" };
  return () => new Request(new URL(ROTATE, ORIGIN), { method: "POST", headers: { ...headers, "cf-connecting-ip": randomAddress() }, body });
}

const withKey = (identity: PhoneIdentity, pair: IdentityKeyPair) => new Phone(ORIGIN, { ...identity, ...pair }, phoneFetch());

describe("4. numbers and key rotation", () => {
  it("tells a registration of a taken number that numbers are first come, first served, and how to recover", async () => {
    const phone = await registeredPhone();
    const intruder = withKey(phone.identity, await generateIdentityKeyPair(false));
    const refusal = await intruder.register().catch((error: unknown) => error);
    expect(refusal).toMatchObject({ status: 409, code: "number_taken" });
    expect((refusal as Error).message).toMatch(/first come, first served/);
    expect((refusal as Error).message).toMatch(/rotate-key/);
  });

  it("rotates the key: the new key works, the old one is refused at once, on requests and on the relay socket", async () => {
    const phone = await registeredPhone();
    const old = withKey(phone.identity, { privateKey: phone.identity.privateKey, publicKey: phone.identity.publicKey });
    const next = await generateIdentityKeyPair(false);
    await expect(phone.rotateKey(next)).resolves.toEqual({ number: phone.identity.number, name: "Alice" });
    expect(phone.identity.publicKey).toBe(next.publicKey);

    await expect(phone.devices()).resolves.toEqual([]);
    await expect(old.devices()).rejects.toMatchObject({ status: 401, code: "bad_signature" });
    const sessionId = randomBase64url(16);
    const { path } = old.relayUrl({ sessionId });
    const socket = await workerFetch(path, { headers: { upgrade: "websocket", ...(await old.signatureHeaders("GET", path, "")), "cf-connecting-ip": randomAddress() } });
    await expectRefused(socket, 401, "bad_signature");
    // Nor can the old key take the number back by registering.
    await expect(old.register()).rejects.toMatchObject({ status: 409, code: "number_taken" });
    // The new key may rename, as the registered key always could.
    await expect(withKey({ ...phone.identity, name: "Alice B." }, next).register()).resolves.toMatchObject({ name: "Alice B." });
  });

  it("closes the relay sockets opened with the old key, and the phone comes back with the new one", async () => {
    const pair = await linkedPair();
    await pair.phone.rotateKey(await generateIdentityKeyPair(false));
    expect(await pair.phoneSocket.waitForClose()).toMatchObject({ code: CLOSE_CODES.replaced });
    expect(await pair.browser.waitFor("presence", 2)).toEqual({ type: "presence", phone: "offline" });
    const again = await openPhoneSocket(pair.phone, pair.browser);
    expect(await again.waitFor("ready")).toMatchObject({ type: "ready" });
    expect(await pair.browser.waitFor("presence", 3)).toEqual({ type: "presence", phone: "online" });
  });

  it("refuses a rotation without a valid proof of the new key, and keeps the old key", async () => {
    const phone = await registeredPhone();
    const next = await generateIdentityKeyPair(false);
    const stranger = await generateIdentityKeyPair(false);
    const spoiled: [string, () => Promise<Request>][] = [
      ["proof by another key", async () => (await rotationRequest(phone, next, { proofKey: stranger.privateKey }))()],
      ["proof over another time", async () => (await rotationRequest(phone, next, { proofTimestamp: String(Date.now() - 1) }))()],
      ["proof by the old key", async () => (await rotationRequest(phone, next, { proofKey: phone.identity.privateKey }))()],
      [
        "no proof",
        async () => {
          const body = JSON.stringify({ publicKey: next.publicKey });
          const headers = await phone.signatureHeaders("POST", ROTATE, body);
          return new Request(new URL(ROTATE, ORIGIN), { method: "POST", headers: { ...headers, "content-type": "application/json", "cf-connecting-ip": randomAddress() }, body });
        },
      ],
    ];
    for (const [what, make] of spoiled) {
      const response = await workerFetch(await make());
      expect(response.status, what).toBe(400);
      expect(await errorCode(response), what).toBe("invalid_input");
    }
    // A rotation to the key it already has is not one.
    const same = await rotationRequest(phone, { privateKey: phone.identity.privateKey, publicKey: phone.identity.publicKey });
    await expectRefused(await workerFetch(same()), 400, "invalid_input");
    // Nothing changed: the old key still works, the new one is refused.
    await expect(phone.devices()).resolves.toEqual([]);
    await expect(withKey(phone.identity, next).devices()).rejects.toMatchObject({ status: 401, code: "bad_signature" });
  });

  it("refuses a replayed rotation: at once (the old key is gone) and after the key came back (the request was used)", async () => {
    const phone = await registeredPhone();
    const original = { privateKey: phone.identity.privateKey, publicKey: phone.identity.publicKey };
    const next = await generateIdentityKeyPair(false);
    const rotation = await rotationRequest(phone, next);
    expect((await workerFetch(rotation())).status).toBe(200);
    await expectRefused(await workerFetch(rotation()), 401, "bad_signature");

    // Back to the original key (its owner still holds it): the first rotation is good by its signature again, but was used.
    const moved = withKey(phone.identity, next);
    await moved.rotateKey(original);
    await expectRefused(await workerFetch(rotation()), 401, "replayed_request");
    await expect(moved.devices()).resolves.toEqual([]);
  });

  it("refuses a rotation signed for another number with the same key", async () => {
    const pair = await generateIdentityKeyPair(false);
    const first = new Phone(ORIGIN, { number: randomNumber(), name: "Alice", ...pair }, phoneFetch());
    const second = new Phone(ORIGIN, { number: randomNumber(), name: "Alice", ...pair }, phoneFetch());
    await first.register();
    await second.register();
    const make = await rotationRequest(first, await generateIdentityKeyPair(false));
    const request = make();
    request.headers.set(SIGNATURE_HEADERS.number, second.identity.number);
    await expectRefused(await workerFetch(request), 401, "bad_signature");
  });
});

// ---------------------------------------------------------------------------
// 5. The site's origin is configured, not made from Host

describe("5. the site's origin: SITE_ORIGIN, not the request's Host", () => {
  it("replays the attack: a spoofed Host with a matching Origin is refused forbidden_origin", async () => {
    for (const path of ["/api/sessions/connect", `/api/sessions/${randomBase64url(16)}/browser`, `/api/links/${randomLinkId()}/browser`]) {
      const response = await workerFetch(`https://rebound.evil.example${path}`, { headers: { upgrade: "websocket", origin: "https://rebound.evil.example", "cf-connecting-ip": randomAddress() } });
      await expectRefused(response, 403, "forbidden_origin");
    }
  });

  it("without SITE_ORIGIN (local development) takes the request's own origin only on a loopback host", async () => {
    const local = { SITE_ORIGIN: "" };
    for (const origin of ["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"]) {
      const response = await direct(new Request(`${origin}/api/sessions/connect`, { headers: { upgrade: "websocket", origin, "cf-connecting-ip": randomAddress() } }), local);
      expect(response.status, origin).toBe(101);
      release(response);
    }
    // DNS rebinding: a name the attacker controls, pointed at 127.0.0.1, with its own page as the Origin.
    for (const origin of ["http://rebind.evil.example:8787", "http://127.0.0.1.evil.example:8787", "https://qr.example"]) {
      const response = await direct(new Request(`${origin}/api/sessions/connect`, { headers: { upgrade: "websocket", origin, "cf-connecting-ip": randomAddress() } }), local);
      await expectRefused(response, 403, "forbidden_origin");
    }
    // Phone requests too: no host to sign for.
    const phone = await registeredPhone();
    const elsewhere = new Phone("https://rebind.evil.example", phone.identity);
    const headers = await elsewhere.signatureHeaders("GET", "/api/devices", "");
    await expectRefused(await direct(new Request("https://rebind.evil.example/api/devices", { headers }), local), 403, "forbidden_origin");
  });

  it("says so when SITE_ORIGIN is set but is not an origin, rather than that it is missing", async () => {
    const broken = { SITE_ORIGIN: "qr.example" };
    const socket = await direct(upgrade("/api/sessions/connect", { origin: ORIGIN, "cf-connecting-ip": randomAddress() }), broken);
    expect(socket.status).toBe(403);
    expect(await socket.json()).toMatchObject({ error: { code: "forbidden_origin", message: expect.stringContaining("SITE_ORIGIN is not an http(s) origin") } });
    const phone = await registeredPhone();
    const headers = await phone.signatureHeaders("GET", "/api/devices", "");
    const signed = await direct(new Request(new URL("/api/devices", ORIGIN), { headers }), broken);
    expect(signed.status).toBe(403);
    expect(await signed.json()).toMatchObject({ error: { code: "forbidden_origin", message: expect.stringContaining("SITE_ORIGIN is not an http(s) origin") } });
  });

  it("reads SITE_ORIGIN as an origin, and loopback as loopback only", () => {
    const envWith = (SITE_ORIGIN: string) => ({ ...env, SITE_ORIGIN }) as Env;
    expect(siteOrigin(envWith("https://qr.example/"), "https://evil.example/x")).toBe("https://qr.example");
    expect(siteOrigin(envWith("not a url"), "http://127.0.0.1/x")).toBeNull();
    expect(siteOrigin(envWith(""), "http://127.0.0.1:8787/x")).toBe("http://127.0.0.1:8787");
    expect(siteOrigin(envWith(""), "http://192.168.1.10:8787/x")).toBeNull();
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "app.localhost", "[::1]"]) expect(isLoopback(host), host).toBe(true);
    for (const host of ["127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1", "[::2]", "qr.example"]) expect(isLoopback(host), host).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// 6. Headers on API replies

describe("6. API JSON replies carry nosniff and a CSP", () => {
  it("on answers, errors, rate limits and 404s", async () => {
    const phone = await registeredPhone();
    clock.start();
    const address = randomAddress();
    let limited: Response | undefined;
    for (let i = 0; i <= RATE_LIMITS.phoneRequestsPerIp.limit && !limited; i++) {
      const response = await withoutBindings(new Request(new URL("/api/devices", ORIGIN), { headers: { "cf-connecting-ip": address } }));
      if (response.status === 429) limited = response;
    }
    clock.stop();
    const devicesHeaders = await phone.signatureHeaders("GET", "/api/devices", "");
    const replies: Record<string, Response> = {
      answer: await workerFetch("/api/devices", { headers: { ...devicesHeaders, "cf-connecting-ip": randomAddress() } }),
      error: await workerFetch("/api/devices", { headers: { "cf-connecting-ip": randomAddress() } }),
      "bad JSON": await signedPost(phone.identity, "/api/devices/revoke", "{"),
      "not found": await workerFetch("/api/nope", { method: "POST" }),
      "not found outside /api": await workerFetch("/nowhere-at-all"),
      "upgrade refused": await workerFetch("/api/sessions/connect", { headers: { upgrade: "websocket", origin: "https://evil.example" } }),
      "rate limited": limited!,
    };
    for (const [what, response] of Object.entries(replies)) {
      expect(response.headers.get("content-type"), what).toMatch(/^application\/json/);
      for (const [name, value] of Object.entries(API_HEADERS)) expect(response.headers.get(name), `${what}: ${name}`).toBe(value);
    }
    expect(API_HEADERS["content-security-policy"]).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(API_HEADERS["x-content-type-options"]).toBe("nosniff");
  }, 60_000);
});

// ---------------------------------------------------------------------------
// 7. Names

describe("7. names: no format characters, one spelling (NFC)", () => {
  const register = async (name: string) => {
    const identity: PhoneIdentity = { number: randomNumber(), name, ...(await generateIdentityKeyPair(false)) };
    return new Phone(ORIGIN, identity, phoneFetch()).register();
  };

  it("replays the attack: \"Alice U+202E knab ruoy\" is refused invalid_input, and so is every invisible format character", async () => {
    for (const name of ["Alice \u202E knab ruoy", "Ali\u200Bce", "\u2066Alice\u2069", "Al\u00ADice", "Alice\u200F", "A\u2028B", "Ali\uFEFFce", "a\u200Db"]) {
      await expect(register(name), JSON.stringify(name)).rejects.toMatchObject({ status: 400, code: "invalid_input" });
    }
  });

  it("normalizes names to NFC, so a decomposed é and a composed one are the same name", async () => {
    const decomposed = "Jose\u0301";
    await expect(register(decomposed)).resolves.toMatchObject({ name: "Jos\u00E9" });
    expect(displayNameSchema.parse(decomposed)).toBe(displayNameSchema.parse("Jos\u00E9"));
  });

  it("keeps emoji sequences joined by a zero-width joiner", async () => {
    for (const name of ["Ana \u{1F469}\u200D\u{1F4BB}", "\u{1F3F3}\uFE0F\u200D\u{1F308}", "\u{1F469}\u{1F3FD}\u200D\u{1F4BB}"]) {
      await expect(register(name), name).resolves.toMatchObject({ name });
    }
  });
});

// ---------------------------------------------------------------------------
// 8. Forwarded headers

describe("8. the object reads only the Worker's own x-qrl-* headers, never a client's", () => {
  /** A client's attempt to tell the object what the Worker checked. */
  const spoofed = (number: string): Record<string, string> => ({
    [ADDRESS_HEADER]: "link",
    [SOCKET_HEADER]: "phone",
    [PHONE_NUMBER_HEADER]: number,
    [SESSION_ID_HEADER]: randomBase64url(16),
    [DEVICE_HEADER]: JSON.stringify({ browser: "Trusted Bank", os: "Linux", place: "Home", ipPrefix: "10.0.0.x", where: { country: null, region: null } }),
    "x-qrl-anything": "else",
  });

  /** The Worker with its session namespace replaced by one that records what each object would be handed. */
  function recordingWorker(): { forwarded: Request[]; fetch: (request: Request) => Promise<Response> } {
    const forwarded: Request[] = [];
    const stub = {
      fetch: async (request: Request) => {
        forwarded.push(request);
        return new Response(null, { status: 204 });
      },
    };
    // Any well-formed link id is taken as an object's id here, so every upgrade reaches the recorder.
    const sessions = { idFromString: (id: string) => ({ id }), get: () => stub, getByName: () => stub };
    return { forwarded, fetch: (request) => direct(request, { PAIRING_SESSION: sessions as unknown as Env["PAIRING_SESSION"] }) };
  }

  const qrlHeaders = (request: Request) => Object.fromEntries([...request.headers].filter(([name]) => name.startsWith("x-qrl-")));

  it("replays the attack: a resume with a spoofed address, kind and phone number is refused 4404 at the old session id", async () => {
    const pair = await linkedPair();
    const { sessionId } = pair.browser;
    const resume = await TestSocket.connect(`/api/sessions/${sessionId}/browser`, { origin: ORIGIN, ...spoofed(pair.phone.identity.number) });
    expect(await resume.waitForClose()).toMatchObject({ code: CLOSE_CODES.unknown_session });
    expect(resume.messages).toEqual([]);
    const relay = await openPhoneSocket(pair.phone, { sessionId });
    expect(await relay.waitForClose()).toMatchObject({ code: CLOSE_CODES.unknown_session });
    expect([pair.browser.closed, pair.phoneSocket.closed]).toEqual([null, null]);
  });

  it("strips every client x-qrl-* header from a resume before it reaches the object", async () => {
    const { forwarded, fetch } = recordingWorker();
    const headers = { origin: ORIGIN, "cf-connecting-ip": randomAddress(), ...spoofed(randomNumber()) };
    expect((await fetch(upgrade(`/api/links/${randomLinkId()}/browser`, { ...headers, [ADDRESS_HEADER]: "session" }))).status).toBe(204);
    expect((await fetch(upgrade(`/api/sessions/${randomBase64url(16)}/browser`, headers))).status).toBe(204);
    expect(forwarded.map(qrlHeaders)).toEqual([
      { [SOCKET_HEADER]: "resume", [ADDRESS_HEADER]: "link" },
      { [SOCKET_HEADER]: "resume", [ADDRESS_HEADER]: "session" },
    ]);
  });

  it("forwards the phone's number from its verified signature only, and none of its signature headers", async () => {
    const phone = await registeredPhone();
    const { forwarded, fetch } = recordingWorker();
    const path = `/api/links/${randomLinkId()}/phone`;
    const signature = await phone.signatureHeaders("GET", path, "");
    const response = await fetch(upgrade(path, { "cf-connecting-ip": randomAddress(), ...spoofed(randomNumber()), ...signature }));
    expect(response.status).toBe(204);
    expect(forwarded.map(qrlHeaders)).toEqual([{ [SOCKET_HEADER]: "phone", [ADDRESS_HEADER]: "link", [PHONE_NUMBER_HEADER]: phone.identity.number }]);
  });

  it("forwards a new session's id and device as the Worker made them", async () => {
    const { forwarded, fetch } = recordingWorker();
    const claims = spoofed(randomNumber());
    await fetch(upgrade("/api/sessions/connect", { origin: ORIGIN, "cf-connecting-ip": "203.0.113.7", ...claims }));
    const sent = qrlHeaders(forwarded[0]!);
    expect(Object.keys(sent).sort()).toEqual([ADDRESS_HEADER, DEVICE_HEADER, SESSION_ID_HEADER, SOCKET_HEADER].sort());
    expect(sent[SOCKET_HEADER]).toBe("open");
    expect(sent[ADDRESS_HEADER]).toBe("session");
    expect(JSON.parse(sent[DEVICE_HEADER]!)).toMatchObject({ browser: "Unknown browser", ipPrefix: "203.0.113.x" });
    expect(sent[SESSION_ID_HEADER]).not.toBe(claims[SESSION_ID_HEADER]);
  });
});
