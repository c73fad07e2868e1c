// The linked relay's address (issue 13: "stop using a QR-visible id as the
// long-lived relay address"). Once linked, the relay answers at the link id
// (the object's own id, handed to both sides when they link) and no longer at
// the session id that every QR code of the session showed. Links made before
// link ids existed keep their old address.
import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { randomBase64url } from "../../src/shared/crypto";
import { CLOSE_CODES, RELAY_SUBPROTOCOL } from "../../src/shared/protocol";
import { RATE_LIMITS } from "../../src/worker/rate-limit";
import {
  BrowserClient,
  clock,
  endpoint,
  errorCode,
  fetchWithRateLimiters,
  linkedPair,
  openPhoneSocket,
  ORIGIN,
  randomAddress,
  randomLinkId,
  registeredPhone,
  resumeBrowser,
  resumePath,
  signedPost,
  storedTables,
  TestSocket,
  workerFetch,
} from "./helpers";

afterEach(() => clock.stop());

const LINK_ID = /^[0-9a-f]{64}$/;

/** The sockets the object holds (what a refused upgrade must not add to). */
function heldSockets(stub: DurableObjectStub): Promise<number> {
  return runInDurableObject(stub, (_instance, state) => state.getWebSockets().length);
}

const upgrade = (path: string, headers: Record<string, string> = {}) =>
  workerFetch(path, { headers: { upgrade: "websocket", origin: ORIGIN, "cf-connecting-ip": randomAddress(), ...headers } });

describe("the link id", () => {
  it("is handed to both sides when they link: the object's own id, not derived from the session id in the QR", async () => {
    const browser = await BrowserClient.open();
    const phone = await registeredPhone("Alice");
    await phone.inspect(browser.qr());
    await browser.shownNumber();
    const { body } = await phone.confirmRequest(browser.qr());
    const response = await signedPost(phone.identity, "/api/link/confirm", JSON.stringify(body));
    expect(response.status).toBe(200);
    const confirmed = (await response.json()) as Record<string, unknown>;
    const linked = await browser.waitFor("linked");

    expect(confirmed).toEqual({ number: phone.identity.number, name: "Alice", linkId: linked.linkId });
    expect(linked.linkId).toMatch(LINK_ID);
    expect(linked.linkId).toBe(browser.stub.id.toString());
    expect(linked.linkId).not.toContain(browser.sessionId);
    // A confirm sent again (its answer lost) gets the same answer.
    const again = await signedPost(phone.identity, "/api/link/confirm", JSON.stringify(body), { timestamp: Date.now() + 1 });
    expect(await again.json()).toEqual(confirmed);
  });
});

describe("after linking, the session id no longer reaches the relay", () => {
  it("closes a resume and a phone socket at /api/sessions/<sessionId>/… with 4404, and leaves the owners' sockets alone", async () => {
    const pair = await linkedPair();
    const { sessionId } = pair.browser;
    const stub = pair.browser.stub;
    expect(await heldSockets(stub)).toBe(2);

    const resume = await TestSocket.connect(`/api/sessions/${sessionId}/browser`, { origin: ORIGIN });
    expect(await resume.waitForClose()).toMatchObject({ code: CLOSE_CODES.unknown_session });
    expect(resume.all("challenge")).toHaveLength(0);
    // The phone itself, signing correctly, at the old address: refused, and its open relay is not replaced.
    const relay = await openPhoneSocket(pair.phone, { sessionId });
    expect(await relay.waitForClose()).toMatchObject({ code: CLOSE_CODES.unknown_session });
    expect(relay.all("ready")).toHaveLength(0);
    // Strangers who read the QR cannot even take a challenge slot.
    const strangers = await Promise.all(Array.from({ length: 6 }, () => TestSocket.connect(`/api/sessions/${sessionId}/browser`, { origin: ORIGIN })));
    for (const stranger of strangers) expect((await stranger.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);

    expect(await heldSockets(stub)).toBe(2);
    expect([pair.browser.closed, pair.phoneSocket.closed]).toEqual([null, null]);
    pair.phoneSocket.send({ type: "frame", seq: 1, data: "AAAA" });
    expect(await pair.browser.waitFor("frame")).toMatchObject({ seq: 1 });
  });

  it("reaches it at the link id: the browser resumes and the phone's relay reconnects, end to end", async () => {
    const pair = await linkedPair();
    const sessionId = pair.browser.sessionId;
    const phone = endpoint(pair.phoneSocket, sessionId, "to_browser", pair.phoneKeys);
    pair.browser.socket.close(1000, "reload");
    await phone.channel.send("while you were away");

    const reloaded = await resumeBrowser(pair.browser, pair.deviceKey);
    const browser = endpoint(reloaded, sessionId, "to_phone", pair.browserKeys);
    await reloaded.until(() => browser.received.length === 1, "the held frame");
    expect(browser.received).toEqual(["while you were away"]);

    // The phone page's way: signed in the subprotocol list, at the link id.
    const { url, protocols } = await pair.phone.relaySocket(pair.browser);
    expect(new URL(url).pathname).toBe(`/api/links/${pair.browser.linkId}/phone`);
    const response = await workerFetch(new URL(url).pathname, { headers: { upgrade: "websocket", "sec-websocket-protocol": protocols.join(", "), "cf-connecting-ip": randomAddress() } });
    expect(response.status).toBe(101);
    expect(response.headers.get("sec-websocket-protocol")).toBe(RELAY_SUBPROTOCOL);
    const phoneAgain = new TestSocket(response.webSocket!);
    expect(await phoneAgain.waitFor("ready")).toMatchObject({ sessionId });
    expect((await pair.phoneSocket.waitForClose()).code).toBe(CLOSE_CODES.replaced);
    phone.channel.detach();
    phone.channel.attach((message) => phoneAgain.send(message));
    phoneAgain.subscribe((message) => void phone.channel.handle(message));
    await browser.channel.send("hello from the reloaded tab");
    await phoneAgain.until(() => phone.received.length === 1, "the browser's frame at the phone");
    expect(phone.received).toEqual(["hello from the reloaded tab"]);
  });

  it("checks the account at the link id too: another phone is refused", async () => {
    const pair = await linkedPair();
    const other = await registeredPhone("Mallory");
    const socket = await openPhoneSocket(other, pair.browser);
    expect((await socket.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
    expect(pair.phoneSocket.closed).toBeNull();
  });
});

describe("a link id that is not one", () => {
  it("is 400 invalid_input when malformed, before anything is counted or touched", async () => {
    const phone = await registeredPhone();
    const malformed = [randomLinkId().toUpperCase(), randomLinkId().slice(1), `${randomLinkId()}0`, randomBase64url(16), "g".repeat(64)];
    for (const linkId of malformed) {
      const browser = await upgrade(`/api/links/${linkId}/browser`);
      expect(browser.status, linkId).toBe(400);
      expect(await errorCode(browser)).toBe("invalid_input");
      const path = `/api/links/${linkId}/phone`;
      const relay = await upgrade(path, await phone.signatureHeaders("GET", path, ""));
      expect(relay.status, linkId).toBe(400);
      expect(await errorCode(relay)).toBe("invalid_input");
    }
    const crossOrigin = await upgrade(`/api/links/${randomLinkId()}/browser`, { origin: "https://evil.example" });
    expect(crossOrigin.status).toBe(403);
    expect(await errorCode(crossOrigin)).toBe("forbidden_origin");
  });

  it("closes with 4404 when well-formed but unknown, and writes nothing", async () => {
    const phone = await registeredPhone();
    // Not this namespace's id at all: no object is reached. A phone page still gets our subprotocol, so it can read the code.
    const stranger = randomLinkId();
    expect((await (await TestSocket.connect(`/api/links/${stranger}/browser`, { origin: ORIGIN })).waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
    expect((await (await openPhoneSocket(phone, { sessionId: randomBase64url(16), linkId: stranger })).waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
    const { url, protocols } = await phone.relaySocket({ sessionId: randomBase64url(16), linkId: stranger });
    const page = await workerFetch(new URL(url).pathname, { headers: { upgrade: "websocket", "sec-websocket-protocol": protocols.join(", "), "cf-connecting-ip": randomAddress() } });
    expect(page.headers.get("sec-websocket-protocol")).toBe(RELAY_SUBPROTOCOL);
    expect((await new TestSocket(page.webSocket!).waitForClose()).code).toBe(CLOSE_CODES.unknown_session);

    // A real id of an object that never had a session: the object answers, and keeps no storage.
    for (const id of [env.PAIRING_SESSION.newUniqueId(), env.PAIRING_SESSION.idFromName(randomBase64url(16))]) {
      const linkId = id.toString();
      expect(linkId).toMatch(LINK_ID);
      const resume = await TestSocket.connect(`/api/links/${linkId}/browser`, { origin: ORIGIN });
      expect((await resume.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
      const relay = await openPhoneSocket(phone, { sessionId: randomBase64url(16), linkId });
      expect((await relay.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
      const stub = env.PAIRING_SESSION.get(id);
      expect(await storedTables(stub)).toBe(0);
      expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
    }
  });

  it("of a link that ended finds nothing and writes nothing", async () => {
    const pair = await linkedPair();
    pair.browser.send({ type: "logout" });
    await pair.browser.waitForClose();
    await expect.poll(() => storedTables(pair.browser.stub)).toBe(0);
    const resume = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    expect((await resume.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
    const relay = await openPhoneSocket(pair.phone, pair.browser);
    expect((await relay.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
    expect(await storedTables(pair.browser.stub)).toBe(0);
  });

  it("counts against the same per-address budget as a resume at a session id", async () => {
    clock.start();
    const withoutBindings = fetchWithRateLimiters();
    const address = randomAddress();
    const resume = (path: string) => withoutBindings(new Request(new URL(path, ORIGIN), { headers: { upgrade: "websocket", origin: ORIGIN, "cf-connecting-ip": address } }));
    for (let i = 0; i < RATE_LIMITS.resumesPerIp.limit; i++) {
      const response = await resume(`/api/links/${randomLinkId()}/browser`);
      expect(response.status).toBe(101);
      response.webSocket?.accept();
      response.webSocket?.close(1000, "done");
    }
    for (const path of [`/api/links/${randomLinkId()}/browser`, `/api/sessions/${randomBase64url(16)}/browser`]) {
      const refused = await resume(path);
      expect(refused.status).toBe(429);
      expect(await errorCode(refused)).toBe("rate_limited");
    }
  }, 60_000);
});

describe("a link made before link ids existed", () => {
  it("still answers at its session id, and at its link id too", async () => {
    const pair = await linkedPair();
    const { sessionId } = pair.browser;
    // As linked by the previous deploy: the session never handed out its link id.
    await runInDurableObject(pair.browser.stub, (_instance, state) => state.storage.sql.exec("UPDATE session SET link_id_issued = 0"));
    await abortAllDurableObjects();

    const phoneSocket = await openPhoneSocket(pair.phone, { sessionId });
    expect(await phoneSocket.waitFor("ready")).toMatchObject({ sessionId });
    const reloaded = await resumeBrowser({ sessionId }, pair.deviceKey);
    const phone = endpoint(phoneSocket, sessionId, "to_browser", pair.phoneKeys);
    const browser = endpoint(reloaded, sessionId, "to_phone", pair.browserKeys);
    await phone.channel.send("still here");
    await reloaded.until(() => browser.received.length === 1, "the frame at the browser");
    expect(browser.received).toEqual(["still here"]);

    // A client that learned the link id may use it as well.
    expect(await (await resumeBrowser(pair.browser, pair.deviceKey)).waitFor("ready")).toMatchObject({ sessionId });
  });
});
