// Test helpers: a browser socket that records what the server says, phones
// that sign their requests with the real phone code, and a driven clock.
import { createExecutionContext, env, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { vi } from "vitest";
import { BrowserPairing } from "../../src/clients/browser/pairing";
import { TokenSchedule } from "../../src/clients/browser/token-schedule";
import worker from "../../src/worker/index";
import { RATE_LIMITS } from "../../src/worker/rate-limit";
import type { Session } from "../../src/worker/pairing-session/session";
import { SessionStore } from "../../src/worker/pairing-session/store";
import { generateIdentityKeyPair, sha256Base64url, signRequest, signResume, type IdentityKeyPair } from "../../src/shared/crypto";
import { emptyChannelState, RelayChannel, type ChannelKeys, type ChannelState } from "../../src/shared/relay-channel";
import { Phone, type PhoneIdentity, type RelayAddress } from "../../src/clients/phone-core/phone";
import { HEARTBEAT, parseQrText, SIGNATURE_HEADERS, serverMessageSchema, type QrPayload, type Direction, type ServerMessage, type ServerMessageOf } from "../../src/shared/protocol";

export const ORIGIN = "https://qr.example";

export function workerFetch(input: string | Request, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(typeof input === "string" ? new URL(input, ORIGIN).toString() : input, init);
}

/**
 * The Worker's fetch with its rate-limiting bindings replaced: `binding` for
 * each (an object with `limit`), or none at all, as deployed without them.
 */
export function fetchWithRateLimiters(binding?: { limit(options: { key: string }): Promise<{ success: boolean }> }): (request: Request) => Promise<Response> {
  const configured: Record<string, unknown> = { ...env };
  for (const rule of Object.values(RATE_LIMITS)) {
    if (binding) configured[rule.binding] = binding;
    else delete configured[rule.binding];
  }
  return (request) => Promise.resolve(worker.fetch(request, configured as unknown as Env, createExecutionContext()));
}

/** Drives Date for the Worker and its objects (they share the test isolate); alarms are run with runDurableObjectAlarm. */
export const clock = {
  start(): number {
    vi.useFakeTimers({ toFake: ["Date"] });
    return Date.now();
  },
  advance(ms: number): number {
    vi.setSystemTime(Date.now() + ms);
    return Date.now();
  },
  set(time: number): void {
    vi.setSystemTime(time);
  },
  stop(): void {
    vi.useRealTimers();
  },
};

const CHROME_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

/** How the browser reaches the Worker: its user agent, address and Cloudflare's view of its place. */
export interface BrowserConnection {
  userAgent?: string;
  ip?: string;
  cf?: { city?: string; region?: string; country?: string };
}

/** A WebSocket to the Worker that records every JSON message the server sends on it. */
export class TestSocket {
  readonly messages: ServerMessage[] = [];
  /** Every text the server sent on this socket, as it came over the wire. */
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];
  private subscribers: ((message: ServerMessage) => void)[] = [];

  constructor(readonly socket: WebSocket) {
    socket.addEventListener("message", (event) => {
      const data = event.data as string;
      this.raw.push(data);
      if (data !== HEARTBEAT.response) {
        const message = serverMessageSchema.parse(JSON.parse(data));
        this.messages.push(message);
        for (const subscriber of this.subscribers) subscriber(message);
      }
      this.wake();
    });
    socket.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.wake();
    });
    socket.accept();
  }

  /** Each socket comes from its own address (unless `headers` names one), as separate clients do: the rate limits count per address. */
  static async connect(path: string, headers: Record<string, string>, cf?: BrowserConnection["cf"]): Promise<TestSocket> {
    const response = await workerFetch(path, { headers: { upgrade: "websocket", "cf-connecting-ip": randomAddress(), ...headers }, cf });
    if (response.status !== 101 || !response.webSocket) throw new Error(`upgrade failed: ${response.status} ${await response.text()}`);
    return new TestSocket(response.webSocket);
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Waits until `predicate` holds, for at most ten seconds of real time (a loaded CI machine is slow; a pass is fast). */
  async until(predicate: () => boolean, what: string): Promise<void> {
    const deadline = performance.now() + 10_000;
    while (!predicate()) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages).slice(0, 2_000)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  all<T extends ServerMessage["type"]>(type: T): ServerMessageOf<T>[] {
    return this.messages.filter((message): message is ServerMessageOf<T> => message.type === type);
  }

  /** The latest message of this type once `count` of them came. */
  async waitFor<T extends ServerMessage["type"]>(type: T, count = 1): Promise<ServerMessageOf<T>> {
    await this.until(() => this.all(type).length >= count, `${count} "${type}" message(s)`);
    return this.all(type).at(-1)!;
  }

  async waitForClose(): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== null, "the socket to close");
    return this.closed!;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Calls `subscriber` with every message so far and every one to come. */
  subscribe(subscriber: (message: ServerMessage) => void): void {
    for (const message of this.messages) subscriber(message);
    this.subscribers.push(subscriber);
  }
}

export class BrowserClient extends TestSocket {
  pairing!: BrowserPairing;

  /** From `connection.ip`, or else from an address of its own, as a real browser: sessions are rate-limited per address. */
  static async open(connection: BrowserConnection = {}): Promise<BrowserClient> {
    const { userAgent = CHROME_ON_LINUX, ip = randomAddress(), cf } = connection;
    const headers: Record<string, string> = { origin: ORIGIN, "user-agent": userAgent, "cf-connecting-ip": ip };
    const response = await workerFetch("/api/sessions/connect", { headers: { upgrade: "websocket", ...headers }, cf });
    if (response.status !== 101 || !response.webSocket) throw new Error(`upgrade failed: ${response.status} ${await response.text()}`);
    const client = new BrowserClient(response.webSocket);
    client.pairing = await BrowserPairing.create();
    // The whole schedule comes at once.
    await client.waitFor("token", (await client.waitFor("token")).count);
    return client;
  }

  get sessionId(): string {
    return this.all("session")[0]!.sessionId;
  }

  /** The relay's address once linked (from `linked`); the session id no longer reaches it. */
  get linkId(): string | undefined {
    return this.all("linked")[0]?.linkId;
  }

  get stub() {
    return env.PAIRING_SESSION.getByName(this.sessionId);
  }

  /** Waits for `scanned` and returns the two digits this browser shows (number matching); its `linked` is then checked against that phone key. */
  async shownNumber(): Promise<string | null> {
    return this.pairing.scanned(this.sessionId, await this.waitFor("scanned"));
  }

  /** What the phone reads from the QR code now on screen. */
  /** The token this browser shows now: of those it was sent, the latest whose window has begun (the test clock is the server's). */
  onScreen(): ServerMessageOf<"token"> {
    const schedule = new TokenSchedule(0);
    for (const token of this.all("token")) schedule.add(token);
    return schedule.due(Date.now())!;
  }

  /** The token of the schedule at `seq`, as last sent. */
  token(seq: number): string {
    return this.all("token").findLast((token) => token.seq === seq)!.token;
  }

  qr(token = this.onScreen().token): QrPayload {
    return parseQrText(this.pairing.qrText(ORIGIN, this.sessionId, token))!;
  }
}

/**
 * A fresh address and number for each test phone, as real phones have: the
 * rate limits count per address and per number across the whole test run.
 */
export function randomAddress(): string {
  const [a = 0, b = 0] = crypto.getRandomValues(new Uint8Array(2));
  return `198.18.${a}.${b}`;
}

/** A well-formed link id (64 lowercase hex characters) that is almost surely no object's id. */
export function randomLinkId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function randomNumber(): string {
  return `+1555${String(crypto.getRandomValues(new Uint32Array(1))[0]! % 10_000_000).padStart(7, "0")}`;
}

/** How a test phone reaches the Worker: from its own address. */
export function phoneFetch(address = randomAddress()): (request: Request) => Promise<Response> {
  return (request) => {
    const addressed = new Request(request);
    addressed.headers.set("cf-connecting-ip", address);
    return workerFetch(addressed);
  };
}

export async function registeredPhone(name = "Alice"): Promise<Phone> {
  const pair = await generateIdentityKeyPair(false);
  const identity: PhoneIdentity = { number: randomNumber(), name, ...pair };
  const phone = new Phone(ORIGIN, identity, phoneFetch());
  await phone.register();
  return phone;
}

export interface SignedPostOptions {
  number?: string;
  timestamp?: number;
  /** Sign this body but send `body`, to model tampering in transit. */
  signedBody?: string;
  headers?: Record<string, string>;
  /** Cloudflare's view of where the phone's request came from. */
  cf?: BrowserConnection["cf"];
}

/** A hand-built signed request, for the cases the real phone would never send. */
export async function signedPost(identity: PhoneIdentity, path: string, body: string, options: SignedPostOptions = {}): Promise<Response> {
  const timestamp = String(options.timestamp ?? Date.now());
  const bodyHash = await sha256Base64url(options.signedBody ?? body);
  const signature = await signRequest(identity.privateKey, { host: new URL(ORIGIN).host, number: identity.number, method: "POST", path, timestamp, bodyHash });
  return workerFetch(path, {
    cf: options.cf,
    method: "POST",
    headers: {
      "content-type": "application/json",
      "cf-connecting-ip": randomAddress(),
      [SIGNATURE_HEADERS.number]: options.number ?? identity.number,
      [SIGNATURE_HEADERS.timestamp]: timestamp,
      [SIGNATURE_HEADERS.signature]: signature,
      ...options.headers,
    },
    body,
  });
}

export async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { error?: { code?: string; message?: string } };
  if (!body.error?.message) throw new Error(`expected an error body, got ${JSON.stringify(body)}`);
  return body.error.code ?? "";
}

// ---------------------------------------------------------------------------
// Linked sessions and the relay

export interface LinkedPair {
  browser: BrowserClient;
  phone: Phone;
  phoneSocket: TestSocket;
  deviceKey: IdentityKeyPair;
  /** The keys each side holds: `send` is its outbound direction's key. */
  browserKeys: ChannelKeys;
  phoneKeys: ChannelKeys;
}

/** The phone's relay socket for a link: at its link id (a BrowserClient that linked has one), or else at its session id. */
export async function openPhoneSocket(phone: Phone, link: RelayAddress): Promise<TestSocket> {
  const { path } = phone.relayUrl(link);
  return TestSocket.connect(path, await phone.signatureHeaders("GET", path, ""));
}

/** Where a browser resumes, as the browser app picks it: at the link id, or for a link made before link ids, at the session id. */
export function resumePath(link: RelayAddress): string {
  return link.linkId ? `/api/links/${link.linkId}/browser` : `/api/sessions/${link.sessionId}/browser`;
}

/** A browser coming back after a reload: answers the challenge with its device key. */
export async function resumeBrowser(link: RelayAddress, deviceKey: IdentityKeyPair): Promise<TestSocket> {
  const socket = await TestSocket.connect(resumePath(link), { origin: ORIGIN });
  const { nonce } = await socket.waitFor("challenge");
  socket.send({ type: "resume", signature: await signResume(deviceKey.privateKey, link.sessionId, nonce) });
  await socket.waitFor("ready");
  return socket;
}

/** A browser and a phone linked through the Worker, the browser's device key registered, the phone's relay open. */
export async function linkedPair(): Promise<LinkedPair> {
  const browser = await BrowserClient.open();
  const phone = await registeredPhone();
  const { matchingNumber } = await phone.inspect(browser.qr());
  if ((await browser.shownNumber()) !== matchingNumber) throw new Error("number matching failed");
  const { keys, linkId } = await phone.confirm(browser.qr());
  const linked = await browser.waitFor("linked");
  if (linked.linkId !== linkId) throw new Error("the two sides were given different link ids");
  const verified = await browser.pairing.verifyLinked(browser.sessionId, linked);
  if (!verified) throw new Error("key confirmation failed");
  const deviceKey = await generateIdentityKeyPair(false);
  browser.send({ type: "link_ack", devicePublicKey: deviceKey.publicKey });
  await browser.waitFor("ready");
  const phoneSocket = await openPhoneSocket(phone, { sessionId: browser.sessionId, linkId });
  await phoneSocket.waitFor("ready");
  return {
    browser,
    phone,
    phoneSocket,
    deviceKey,
    browserKeys: { send: verified.browserToPhone, receive: verified.phoneToBrowser },
    phoneKeys: { send: keys.phoneToBrowser, receive: keys.browserToPhone },
  };
}

export interface Endpoint {
  channel: RelayChannel;
  /** Plaintexts received, in the order they were delivered to the app. */
  received: string[];
}

/** The real client relay logic on a test socket. */
export function endpoint(socket: TestSocket, sessionId: string, outbound: Direction, keys: ChannelKeys, state: ChannelState = emptyChannelState()): Endpoint {
  const received: string[] = [];
  const channel = new RelayChannel(sessionId, outbound, keys, state, async () => {}, { message: (plaintext) => void received.push(plaintext) });
  channel.attach((message) => socket.send(message));
  socket.subscribe((message) => void channel.handle(message));
  return { channel, received };
}

/** The session as the object's store reads it: from SQLite, or from the browser socket a QR session waiting for its scan is kept on. */
export function storedSession(stub: DurableObjectStub): Promise<Session | null> {
  return runInDurableObject(stub, (_instance, state) => new SessionStore(state, { forget() {} }).session());
}

/** The object's own tables (not the runtime's `_cf_*`): none once it deleted its storage, or if it never had any. */
export function storedTables(stub: DurableObjectStub): Promise<number> {
  return runInDurableObject(stub, (_instance, state) => state.storage.sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'").one().n as number);
}

/** Links one more browser to `phone` through the Worker (its device key not yet registered); returns the browser. */
export async function linkBrowser(phone: Phone): Promise<BrowserClient> {
  const browser = await BrowserClient.open();
  await phone.inspect(browser.qr());
  await phone.confirm(browser.qr());
  await browser.waitFor("linked");
  return browser;
}
