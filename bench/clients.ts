// Benchmark clients: browsers and phones in Node, speaking QR Link with the
// project's own protocol, crypto and relay code.
import WebSocket from "ws";
import { BrowserPairing } from "../src/clients/browser/pairing";
import { generateIdentityKeyPair, type LinkKeys } from "../src/shared/crypto";
import { Phone } from "../src/clients/phone-core/phone";
import { parseQrText, type QrPayload, type ServerMessage } from "../src/shared/protocol";
import { emptyChannelState, RelayChannel, type ChannelKeys } from "../src/shared/relay-channel";

export const wsUrl = (http: string, path: string) => `${http.replace(/^http/, "ws")}${path}`;

/**
 * A WebSocket whose JSON messages go to one handler, with a way to wait for
 * the next of a type. Messages nobody waited for yet are kept until asked
 * for: `ws` can deliver the first ones in the same tick as `open`.
 */
export class JsonSocket {
  private waiters: { type: string; resolve: (message: ServerMessage) => void }[] = [];
  private unclaimed: ServerMessage[] = [];
  onMessage: ((message: ServerMessage) => void) | null = null;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      const text = String(data);
      if (text[0] !== "{") return;
      const message = JSON.parse(text) as ServerMessage;
      if (this.onMessage) return this.onMessage(message);
      const index = this.waiters.findIndex((waiter) => waiter.type === message.type);
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message);
      else this.unclaimed.push(message);
    });
  }

  static open(url: string, headers: Record<string, string>, protocols: string[] = []): Promise<JsonSocket> {
    const socket = new WebSocket(url, protocols, { headers, perMessageDeflate: false });
    const json = new JsonSocket(socket);
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve(json));
      socket.once("error", reject);
      // A refused upgrade: say what the server said.
      socket.once("unexpected-response", (_request, response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
        response.on("end", () => reject(new Error(`${url} answered ${response.statusCode}: ${body.slice(0, 300)}`)));
      });
    });
  }

  next<T extends ServerMessage["type"]>(type: T): Promise<Extract<ServerMessage, { type: T }>> {
    const index = this.unclaimed.findIndex((message) => message.type === type);
    if (index >= 0) return Promise.resolve(this.unclaimed.splice(index, 1)[0] as Extract<ServerMessage, { type: T }>);
    return new Promise((resolve) => this.waiters.push({ type, resolve: resolve as (message: ServerMessage) => void }));
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Hands the raw socket over: this wrapper stops parsing and keeping messages. */
  release(): WebSocket {
    this.socket.removeAllListeners("message");
    this.unclaimed = [];
    return this.socket;
  }

  close(): void {
    this.socket.close();
  }
}

export interface OpenedBrowser {
  socket: JsonSocket;
  sessionId: string;
  token: string;
  pairing: BrowserPairing;
}

/** A browser tab opening a pairing session; resolves once its token schedule arrived, with the token on screen now (the first). */
export async function openBrowser(server: string): Promise<OpenedBrowser> {
  const socket = await JsonSocket.open(wsUrl(server, "/api/sessions/connect"), { origin: server });
  const [session, first] = [socket.next("session"), socket.next("token")];
  const pairing = await BrowserPairing.create();
  const rest = await Promise.all(Array.from({ length: (await first).count - 1 }, () => socket.next("token")));
  const onScreen = [await first, ...rest].find((token) => token.seq === 0)!;
  return { socket, sessionId: (await session).sessionId, token: onScreen.token, pairing };
}

export function qrOf(server: string, browser: OpenedBrowser): QrPayload {
  return parseQrText(browser.pairing.qrText(server, browser.sessionId, browser.token))!;
}

let phoneNumbers = 0;

export async function registeredPhones(server: string, count: number): Promise<Phone[]> {
  const phones: Phone[] = [];
  for (let start = 0; start < count; start += 50) {
    phones.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, count - start) }, async () => {
          const serial = ++phoneNumbers;
          const pair = await generateIdentityKeyPair(false);
          const phone = new Phone(server, { number: `+1555${String(serial).padStart(7, "0")}`, name: `Bench ${serial}`, ...pair });
          await phone.register();
          return phone;
        }),
      )),
    );
  }
  return phones;
}

/**
 * A scanned session whose confirmation is signed and ready to send: the
 * browser has seen `scanned` (and derived its number), the phone has its
 * confirm body and signature headers. Made before a timed confirm.
 */
export interface PreparedConfirm {
  browser: OpenedBrowser;
  qr: QrPayload;
  phone: Phone;
  keys: LinkKeys;
  send(): Promise<Response>;
}

export async function prepareConfirm(server: string, phone: Phone, browser: OpenedBrowser): Promise<PreparedConfirm> {
  const qr = qrOf(server, browser);
  const scanned = browser.socket.next("scanned");
  await phone.inspect(qr);
  await browser.pairing.scanned(browser.sessionId, await scanned);
  const { body, keys } = await phone.confirmRequest(qr);
  const text = JSON.stringify(body);
  const headers = { "content-type": "application/json", ...(await phone.signatureHeaders("POST", "/api/link/confirm", text)) };
  return { browser, qr, phone, keys, send: () => fetch(`${server}/api/link/confirm`, { method: "POST", headers, body: text }) };
}

export interface LinkedPair {
  browser: JsonSocket;
  phone: JsonSocket;
  sessionId: string;
  browserKeys: ChannelKeys;
  phoneKeys: ChannelKeys;
  /** The browser's link and the device key it signs media requests with. */
  linkId: string;
  deviceKey: CryptoKey;
}

/** Links a browser to a phone and opens the phone's relay: the state a chat session runs in. */
export async function linkPair(server: string, phone: Phone): Promise<LinkedPair> {
  const browser = await openBrowser(server);
  const prepared = await prepareConfirm(server, phone, browser);
  const linkedMessage = browser.socket.next("linked");
  const response = await prepared.send();
  if (!response.ok) throw new Error(`confirm answered ${response.status}: ${await response.text()}`);
  const verified = await browser.pairing.verifyLinked(browser.sessionId, await linkedMessage);
  if (!verified) throw new Error("key confirmation failed");
  const device = await generateIdentityKeyPair(false);
  const browserReady = browser.socket.next("ready");
  browser.socket.send({ type: "link_ack", devicePublicKey: device.publicKey });
  await browserReady;
  const relay = await phone.relaySocket({ sessionId: browser.sessionId, linkId: (await linkedMessage).linkId });
  const phoneSocket = await JsonSocket.open(relay.url, {}, relay.protocols);
  await phoneSocket.next("ready");
  return {
    browser: browser.socket,
    phone: phoneSocket,
    sessionId: browser.sessionId,
    browserKeys: { send: verified.browserToPhone, receive: verified.phoneToBrowser },
    phoneKeys: { send: prepared.keys.phoneToBrowser, receive: prepared.keys.browserToPhone },
    linkId: (await linkedMessage).linkId,
    deviceKey: device.privateKey,
  };
}

/** The real relay channel on a bench socket; `received` is called with each plaintext. */
export function relayEndpoint(socket: JsonSocket, sessionId: string, outbound: "to_browser" | "to_phone", keys: ChannelKeys, received: (plaintext: string) => void): RelayChannel {
  const channel = new RelayChannel(sessionId, outbound, keys, emptyChannelState(), async () => {}, { message: received });
  channel.attach((message) => socket.send(message));
  socket.onMessage = (message) => void channel.handle(message);
  // The relay was already `ready` when the pair was linked.
  void channel.handle({ type: "ready", sessionId, account: { number: "", name: "" }, received: 0, delivered: 0, phone: "online" });
  return channel;
}
