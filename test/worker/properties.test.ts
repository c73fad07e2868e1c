import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { ERROR_STATUS } from "../../src/worker/outcome";
import { CLOSE_CODES, SIGNATURE_HEADERS } from "../../src/shared/protocol";
import type { Phone, RelayAddress } from "../../src/clients/phone-core/phone";
import { BrowserClient, clock, fetchWithRateLimiters, linkedPair, ORIGIN, randomAddress, registeredPhone, resumeBrowser, TestSocket } from "./helpers";

/**
 * Each generated body goes through the Worker, the signature check and the
 * Account's replay row (about 2 ms): 2,000 per endpoint prove the wiring, and
 * the schemas themselves get 10,000 each in Node (test/node/parsers.test.ts).
 */
const RUNS = 2_000;
/** Most generated messages close their socket, and each reopening is a signed upgrade: fewer runs here, the parser itself gets 10,000 in test/node/parsers.test.ts. */
const SOCKET_RUNS = 300;

afterEach(() => clock.stop());

/** The Worker with its rate limits lifted, so every input reaches the code under test. */
const fetchUnlimited = fetchWithRateLimiters({ limit: async () => ({ success: true }) });

/** A refusal is always 4xx with a JSON body naming a documented code, and the status that code has. */
async function expectDocumentedRefusal(response: Response): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBeGreaterThanOrEqual(400);
  expect(response.status, text).toBeLessThan(500);
  const body = JSON.parse(text) as { error: { code: keyof typeof ERROR_STATUS; message: string } };
  expect(ERROR_STATUS[body.error.code], text).toBe(response.status);
  expect(body.error.message.length).toBeGreaterThan(0);
}

const base64url = (length: number) => fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), minLength: length, maxLength: length });
/** Bodies that are not JSON, JSON of any shape, and objects shaped like the real ones with wrong values. */
const anyBody = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ depthSize: "small", maxDepth: 4 }),
  fc.record(
    {
      sessionId: fc.oneof(base64url(22), fc.string({ maxLength: 30 }), fc.integer()),
      token: fc.oneof(base64url(22), fc.string({ maxLength: 30 })),
      phonePublicKey: fc.oneof(base64url(43), fc.string({ maxLength: 50 })),
      confirmation: fc.oneof(base64url(43), fc.string({ maxLength: 50 })),
      number: fc.oneof(fc.constantFrom("+15550100001", "+15550100002"), fc.string({ maxLength: 20 })),
      name: fc.string({ maxLength: 80 }),
      publicKey: fc.oneof(base64url(87), fc.string({ maxLength: 90 })),
      extra: fc.anything({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  ).map((value) => JSON.stringify(value)),
).map((value) => (typeof value === "string" ? value : JSON.stringify(value)));

describe("every phone endpoint, fed generated bodies", () => {
  for (const path of ["/api/accounts", "/api/link/inspect", "/api/link/confirm", "/api/link/reject", "/api/devices/revoke"]) {
    it(`answers ${path} with a documented refusal, never a 5xx, and changes nothing`, async () => {
      const browser = await BrowserClient.open();
      const phone = await registeredPhone();
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(anyBody, async (body) => {
          const headers = await phone.signatureHeaders("POST", path, body);
          const request = new Request(new URL(path, ORIGIN), { method: "POST", headers: { ...headers, "content-type": "application/json", "cf-connecting-ip": randomAddress() }, body });
          await expectDocumentedRefusal(await fetchUnlimited(request));
        }),
        { numRuns: RUNS },
      );
      console.log(`${path}: ${RUNS} generated bodies in ${((performance.now() - started) / 1000).toFixed(1)} s, no 5xx`);
      expect(await phone.devices()).toEqual([]);
      expect(browser.all("scanned")).toHaveLength(0);
      await expect(phone.inspect(browser.qr())).resolves.toMatchObject({ qrCreatedAt: expect.any(Number) });
    }, 300_000);
  }
});

const headerText = (maxLength: number) => fc.string({ unit: "grapheme-ascii", maxLength });

describe("signed-request headers, generated", () => {
  it("refuses every signature that is not the phone's own with a documented code, and the code it carried stays unspent", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone();
    const path = "/api/link/inspect";
    const body = JSON.stringify({ sessionId: browser.sessionId, token: browser.all("token")[0]!.token });
    const headers = fc.record(
      {
        [SIGNATURE_HEADERS.number]: fc.oneof(fc.constant(phone.identity.number), fc.constantFrom("+15550100003", "+4915550100"), headerText(20)),
        [SIGNATURE_HEADERS.timestamp]: fc.oneof(fc.constant(String(Date.now())), fc.nat().map(String), headerText(20)),
        [SIGNATURE_HEADERS.signature]: fc.oneof(base64url(86), headerText(100)),
      },
      { requiredKeys: [] },
    );
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(headers, async (signature) => {
        const request = new Request(new URL(path, ORIGIN), { method: "POST", headers: { ...signature, "content-type": "application/json" }, body });
        const response = await fetchUnlimited(request);
        expect(response.status).toBe(401);
        await expectDocumentedRefusal(response);
      }),
      { numRuns: RUNS },
    );
    console.log(`signature headers: ${RUNS} generated in ${((performance.now() - started) / 1000).toFixed(1)} s, all refused with 401`);
    expect(browser.all("scanned")).toHaveLength(0);
    await expect(phone.inspect(browser.qr())).resolves.toMatchObject({ qrCreatedAt: expect.any(Number) });
  }, 300_000);
});

/** Messages that are not JSON, JSON of any shape, and objects shaped like client messages with wrong values. */
const anyMessage = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ depthSize: "small", maxDepth: 4 }),
  fc
    .record(
      {
        type: fc.oneof(fc.constantFrom("frame", "ack", "resume", "link_ack", "logout", "key_mismatch"), fc.string({ maxLength: 12 })),
        seq: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 5 }), fc.constant(1)),
        data: fc.oneof(base64url(8), fc.string({ maxLength: 20 })),
        signature: fc.oneof(base64url(86), fc.string({ maxLength: 90 })),
        devicePublicKey: fc.oneof(base64url(87), fc.string({ maxLength: 90 })),
      },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
);

/**
 * The phone's relay socket through the Worker with its rate limits lifted:
 * the test below opens it again after every close, hundreds of times a
 * minute for one account, far past what a phone may.
 */
async function openPhoneSocketUnlimited(phone: Phone, link: RelayAddress): Promise<TestSocket> {
  const { path } = phone.relayUrl(link);
  const headers = { upgrade: "websocket", "cf-connecting-ip": randomAddress(), ...(await phone.signatureHeaders("GET", path, "")) };
  const response = await fetchUnlimited(new Request(new URL(path, ORIGIN), { headers }));
  if (response.status !== 101 || !response.webSocket) throw new Error(`upgrade failed: ${response.status} ${await response.text()}`);
  return new TestSocket(response.webSocket);
}

/**
 * A relay socket that is opened again whenever the server closes it. After
 * each message it sends a probe (a repeat of frame 1, always answered
 * `stored`), so the server's answer to every message is known: a close with
 * its code, or the socket still open.
 */
class ProbedSocket {
  private socket!: TestSocket;
  readonly closeCodes = new Map<number, number>();

  constructor(private readonly open: () => Promise<TestSocket>) {}

  async start(): Promise<void> {
    this.socket = await this.open();
    this.socket.send({ type: "frame", seq: 1, data: "AAAA" });
    await this.socket.waitFor("stored");
  }

  async feed(message: string): Promise<void> {
    // A close can land after the probe's answer (the runtime may reorder a burst), so look before sending.
    if (this.socket.closed || this.socket.socket.readyState !== WebSocket.OPEN) await this.reopen();
    const stored = this.socket.all("stored").length;
    this.socket.send(message);
    this.socket.send({ type: "frame", seq: 1, data: "AAAA" });
    await this.socket.until(() => this.socket.closed !== null || this.socket.all("stored").length > stored, "an answer");
    if (this.socket.closed) await this.reopen();
  }

  private async reopen(): Promise<void> {
    const { code } = await this.socket.waitForClose();
    this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
    this.socket = await this.open();
  }

  get current(): TestSocket {
    return this.socket;
  }
}

describe("the relay sockets, fed generated messages", () => {
  for (const side of ["phone", "browser"] as const) {
    it(`answers each message on the ${side}'s socket, or closes it with a documented code, and the link survives`, async () => {
      clock.start();
      const pair = await linkedPair();
      const sessionId = pair.browser.sessionId;
      const socket = new ProbedSocket(() => {
        clock.advance(1); // Each signed upgrade has its own time, or it would be a replay.
        return side === "phone" ? openPhoneSocketUnlimited(pair.phone, pair.browser) : resumeBrowser(pair.browser, pair.deviceKey);
      });
      await socket.start();
      const started = performance.now();
      await fc.assert(
        // A well-formed logout ends the link by design; everything else must leave it whole.
        fc.asyncProperty(anyMessage.filter((message) => !/"type":"logout"/.test(message) || side === "phone"), async (message) => {
          // Time moves as it would between messages, so the socket's allowance refills.
          clock.advance(10);
          await socket.feed(message);
          const messages = socket.current.messages;
          expect(messages.filter((reply) => reply.type === "error" && reply.code === "rate_limited")).toEqual([]);
        }),
        { numRuns: SOCKET_RUNS },
      );
      const codes = Object.fromEntries(socket.closeCodes);
      console.log(`${side} socket: ${SOCKET_RUNS} generated messages in ${((performance.now() - started) / 1000).toFixed(1)} s; closed with ${JSON.stringify(codes)}`);
      const documented = new Set<number>(Object.values(CLOSE_CODES));
      for (const code of socket.closeCodes.keys()) expect(documented).toContain(code);
      // The link is whole: the browser resumes with its key and the phone's frames still reach it.
      const browser = await resumeBrowser(pair.browser, pair.deviceKey);
      expect(browser.all("ready")[0]).toMatchObject({ sessionId });
    }, 300_000);
  }
});
