// Faults at the worst moment: an alarm that fails part-way and is retried,
// sockets cut in the middle of a burst. State stays whole, nothing is lost or
// doubled; the counts are printed with the test output.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { CLOSE_CODES } from "../../src/shared/protocol";
import type { PairingSession } from "../../src/worker/pairing-session/pairing-session";
import { BrowserClient, clock, endpoint, linkedPair, openPhoneSocket, resumeBrowser, storedSession, type Endpoint, type TestSocket } from "./helpers";

afterEach(() => clock.stop());

const firstTtl = Number(env.TOKEN_FIRST_TTL_MS);
const ttl = Number(env.TOKEN_TTL_MS);

/** The runtime retries an alarm whose handler threw (runDurableObjectAlarm has already taken it off the schedule). */
function retryAlarm(stub: DurableObjectStub<PairingSession>): Promise<void> {
  return runInDurableObject(stub, (instance) => instance.alarm());
}

describe("an alarm that throws once", () => {
  it("fails before the end is written: nothing is announced, and the retry ends the session once", async () => {
    const start = clock.start();
    const browser = await BrowserClient.open();
    // The end's write is the browser socket's attachment (the waiting session lets go of it): the first one fails.
    await runInDurableObject(browser.stub, (_instance, state) => {
      const [socket] = state.getWebSockets("browser");
      const serialize = socket!.serializeAttachment.bind(socket);
      let failed = false;
      socket!.serializeAttachment = (value: unknown) => {
        if (failed) return serialize(value);
        failed = true;
        throw new Error("injected: storage failed");
      };
    });

    clock.set(start + firstTtl + 5 * ttl);
    await expect(runDurableObjectAlarm(browser.stub)).rejects.toThrow("injected");
    expect(await storedSession(browser.stub)).toMatchObject({ state: "pending" });
    expect(browser.all("ended")).toHaveLength(0);

    await retryAlarm(browser.stub);
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "expired" });
    expect((await browser.waitForClose()).code).toBe(CLOSE_CODES.expired);
    expect(browser.all("ended")).toHaveLength(1);
    console.log("alarm fault before the end's write: 1 injected, ended announced once, after the retry");
  });
});

/** Counts what arrived against what was sent. */
function report(what: string, sent: string[], received: string[], inFlight: number): void {
  const lost = sent.filter((text) => !received.includes(text)).length;
  const doubled = received.length - new Set(received).size;
  console.log(`${what}: ${sent.length} frames sent (${inFlight} unstored when cut), ${received.length} received, ${lost} lost, ${doubled} doubled`);
  expect({ lost, doubled, inOrder: received }).toEqual({ lost: 0, doubled: 0, inOrder: sent });
}

/** The server drops the socket as a network fault would: whatever was still on the way is not processed. */
async function cutFromServer(browser: BrowserClient, role: "phone" | "browser"): Promise<void> {
  await runInDurableObject(browser.stub, (_instance, state) => {
    for (const ws of state.getWebSockets(role)) ws.close(1011, "cut");
  });
}

/**
 * Sends the burst without waiting for the server, cutting the socket when half
 * of it has left; returns how many of those the server had not stored.
 */
async function burstWithCut(sender: Endpoint, texts: string[], cut: () => Promise<void>): Promise<number> {
  const half = texts.length / 2;
  await Promise.all(texts.slice(0, half).map((text) => sender.channel.send(text)));
  await cut();
  const unstored = sender.channel.state.unstored.length;
  sender.channel.detach();
  for (const text of texts.slice(half)) await sender.channel.send(text);
  return unstored;
}

function reattach(sender: Endpoint, socket: TestSocket): void {
  sender.channel.attach((message) => socket.send(message));
  socket.subscribe((message) => void sender.channel.handle(message));
}

describe("a socket cut in the middle of a burst", () => {
  const burst = Array.from({ length: 60 }, (_, i) => `burst ${i + 1}`);
  const sides = {
    phone: { receiver: "browser", reconnects: "the phone reconnects" },
    browser: { receiver: "phone", reconnects: "the reloaded browser" },
  } as const;

  for (const [side, { receiver, reconnects }] of Object.entries(sides) as [keyof typeof sides, (typeof sides)[keyof typeof sides]][]) {
    it(`on the ${side}'s side: ${reconnects} and sends again what was not stored, the ${receiver} gets each frame once`, async () => {
      const pair = await linkedPair();
      const sessionId = pair.browser.sessionId;
      const ends = {
        phone: { socket: pair.phoneSocket, endpoint: endpoint(pair.phoneSocket, sessionId, "to_browser", pair.phoneKeys) },
        browser: { socket: pair.browser as TestSocket, endpoint: endpoint(pair.browser, sessionId, "to_phone", pair.browserKeys) },
      };
      const sender = ends[side].endpoint;

      const inFlight = await burstWithCut(sender, burst, () => cutFromServer(pair.browser, side));
      await ends[side].socket.waitForClose();
      const again = side === "phone" ? await openPhoneSocket(pair.phone, pair.browser) : await resumeBrowser(pair.browser, pair.deviceKey);
      reattach(sender, again);
      const received = ends[receiver].endpoint.received;
      await ends[receiver].socket.until(() => received.length >= burst.length, `the whole burst at the ${receiver}`);
      await again.until(() => sender.channel.state.unstored.length === 0, "every frame stored");
      report(`${side} socket cut mid-burst`, burst, received, inFlight);
    });
  }
});
