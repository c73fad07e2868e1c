// Test helpers: a browser socket that records what the server says, phones
// that sign their requests with the real phone code, and a driven clock.
import { env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { vi } from "vitest";
import { BrowserPairing } from "../../src/browser/pairing";
import { generateIdentityKeyPair, sha256Base64url, signRequest } from "../../src/crypto";
import { Phone, type PhoneIdentity } from "../../src/phone/phone";
import { SIGNATURE_HEADERS, serverMessageSchema, type QrPayload, type ServerMessage } from "../../src/protocol";

export const ORIGIN = "https://qr.example";

export function workerFetch(input: string | Request, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(typeof input === "string" ? new URL(input, ORIGIN).toString() : input, init);
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
  cf?: { city?: string; country?: string };
}

type MessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

export class BrowserClient {
  readonly messages: ServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly socket: WebSocket,
    readonly pairing: BrowserPairing,
  ) {
    socket.addEventListener("message", (event) => {
      this.messages.push(serverMessageSchema.parse(JSON.parse(event.data as string)));
      this.wake();
    });
    socket.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.wake();
    });
    socket.accept();
  }

  static async open(connection: BrowserConnection = {}): Promise<BrowserClient> {
    const { userAgent = CHROME_ON_LINUX, ip, cf } = connection;
    const headers: Record<string, string> = { upgrade: "websocket", origin: ORIGIN, "user-agent": userAgent };
    if (ip) headers["cf-connecting-ip"] = ip;
    const response = await workerFetch("/api/sessions/connect", { headers, cf });
    if (response.status !== 101 || !response.webSocket) throw new Error(`upgrade failed: ${response.status} ${await response.text()}`);
    const client = new BrowserClient(response.webSocket, await BrowserPairing.create());
    await client.waitFor("token");
    return client;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Waits until `predicate` holds, for at most two seconds of real time. */
  async until(predicate: () => boolean, what: string): Promise<void> {
    const deadline = performance.now() + 2_000;
    while (!predicate()) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  all<T extends ServerMessage["type"]>(type: T): MessageOf<T>[] {
    return this.messages.filter((message): message is MessageOf<T> => message.type === type);
  }

  /** The latest message of this type, waiting for one if none came yet. */
  async waitFor<T extends ServerMessage["type"]>(type: T, count = 1): Promise<MessageOf<T>> {
    await this.until(() => this.all(type).length >= count, `${count} "${type}" message(s)`);
    return this.all(type).at(-1)!;
  }

  async waitForClose(): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== null, "the socket to close");
    return this.closed!;
  }

  get sessionId(): string {
    return this.all("session")[0]!.sessionId;
  }

  get stub() {
    return env.PAIRING_SESSION.getByName(this.sessionId);
  }

  /** What the phone reads from the QR code now on screen. */
  qr(token = this.all("token").at(-1)!.token): QrPayload {
    const text = this.pairing.qrText(ORIGIN, this.sessionId, token);
    const [sessionId, qrToken, browserPublicKey, qrSecret] = new URL(text).hash.slice(1).split(".") as [string, string, string, string];
    return { sessionId, token: qrToken, browserPublicKey, qrSecret };
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }
}

let phoneCount = 0;

export async function registeredPhone(name = "Alice"): Promise<Phone> {
  phoneCount += 1;
  const pair = await generateIdentityKeyPair(false);
  const identity: PhoneIdentity = { number: `+1555${String(1000 + phoneCount).padStart(7, "0")}`, name, ...pair };
  const phone = new Phone(ORIGIN, identity, (request) => workerFetch(request));
  await phone.register();
  return phone;
}

export interface SignedPostOptions {
  number?: string;
  timestamp?: number;
  /** Sign this body but send `body`, to model tampering in transit. */
  signedBody?: string;
  headers?: Record<string, string>;
}

/** A hand-built signed request, for the cases the real phone would never send. */
export async function signedPost(identity: PhoneIdentity, path: string, body: string, options: SignedPostOptions = {}): Promise<Response> {
  const timestamp = String(options.timestamp ?? Date.now());
  const signature = await signRequest(identity.privateKey, { method: "POST", path, timestamp, bodyHash: await sha256Base64url(options.signedBody ?? body) });
  return workerFetch(path, {
    method: "POST",
    headers: {
      "content-type": "application/json",
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
