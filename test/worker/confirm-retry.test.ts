// The phone resends its confirm when the server may still link without it
// knowing: a 503 `unavailable` (the session retries the Account on its own)
// or no answer at all (a lost reply). The same body, freshly signed, gets the
// same result, so the phone keeps the link the browser was given.
import { afterEach, describe, expect, it } from "vitest";
import { Phone } from "../../src/clients/phone-core/phone";
import { SIGNATURE_HEADERS } from "../../src/shared/protocol";
import { BrowserClient, clock, ORIGIN, phoneFetch, registeredPhone } from "./helpers";

afterEach(() => clock.stop());

type Fetch = (request: Request) => Promise<Response>;

interface SentConfirm {
  body: string;
  timestamp: string | null;
  signature: string | null;
}

/**
 * A phone for a fresh account whose confirm requests go through `confirm`
 * (given the real fetch and the attempt's number, from 1); everything else
 * reaches the Worker as usual. Returns the confirms as they were sent.
 */
async function phoneWithConfirm(confirm: (request: Request, attempt: number, send: Fetch) => Promise<Response>): Promise<{ phone: Phone; sent: SentConfirm[] }> {
  const registered = await registeredPhone();
  const send = phoneFetch();
  const sent: SentConfirm[] = [];
  const fetcher: Fetch = async (request) => {
    if (new URL(request.url).pathname !== "/api/link/confirm") return send(request);
    sent.push({ body: await request.clone().text(), timestamp: request.headers.get(SIGNATURE_HEADERS.timestamp), signature: request.headers.get(SIGNATURE_HEADERS.signature) });
    return confirm(request, sent.length, send);
  };
  return { phone: new Phone(ORIGIN, registered.identity, fetcher), sent };
}

const unavailable = () => Response.json({ error: { code: "unavailable", message: "the account could not be reached; try again" } }, { status: 503 });

/** Scans `browser`'s QR with `phone` and checks the number, as a user would. */
async function scan(browser: BrowserClient, phone: Phone): Promise<void> {
  const { matchingNumber } = await phone.inspect(browser.qr());
  expect(await browser.shownNumber()).toBe(matchingNumber);
}

/** The phone's link and the browser's are the same one: same link id, and the browser verifies the phone's key confirmation. */
async function expectSameLink(browser: BrowserClient, link: Awaited<ReturnType<Phone["confirm"]>>): Promise<void> {
  const linked = await browser.waitFor("linked");
  expect(link.linkId).toBe(linked.linkId);
  const browserKeys = await browser.pairing.verifyLinked(browser.sessionId, linked);
  expect(browserKeys).not.toBeNull();
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, link.keys.phoneToBrowser, new TextEncoder().encode("hello"));
  expect(new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv }, browserKeys!.phoneToBrowser, sealed))).toBe("hello");
}

describe("a confirm that may have landed is sent again", () => {
  it("resends after a 503 unavailable (the server linked meanwhile) and returns the link the browser was given", async () => {
    const browser = await BrowserClient.open();
    const { phone, sent } = await phoneWithConfirm(async (request, attempt, send) => {
      const response = await send(request);
      return attempt === 1 ? unavailable() : response;
    });
    await scan(browser, phone);
    const link = await phone.confirm(browser.qr());
    await expectSameLink(browser, link);
    expect(sent).toHaveLength(2);
    // The same body, under a fresh signature.
    expect(sent[1]!.body).toBe(sent[0]!.body);
    expect(sent[1]!.timestamp).not.toBe(sent[0]!.timestamp);
    expect(sent[1]!.signature).not.toBe(sent[0]!.signature);
  });

  it("resends a confirm that never reached the server (the fetch threw)", async () => {
    const browser = await BrowserClient.open();
    const { phone, sent } = await phoneWithConfirm(async (request, attempt, send) => {
      if (attempt === 1) throw new TypeError("fetch failed");
      return send(request);
    });
    await scan(browser, phone);
    await expectSameLink(browser, await phone.confirm(browser.qr()));
    expect(sent).toHaveLength(2);
  });

  it("resends a confirm whose 200 reply was lost, and gets the same link again", async () => {
    const browser = await BrowserClient.open();
    const { phone, sent } = await phoneWithConfirm(async (request, attempt, send) => {
      const response = await send(request);
      if (attempt === 1) throw new TypeError("network connection lost");
      return response;
    });
    await scan(browser, phone);
    await expectSameLink(browser, await phone.confirm(browser.qr()));
    expect(sent).toHaveLength(2);
    expect(browser.all("linked")).toHaveLength(1);
  });

  it("does not resend a refusal", async () => {
    const browser = await BrowserClient.open();
    const { phone, sent } = await phoneWithConfirm((request, _attempt, send) => send(request));
    // No scan first: the session refuses the confirm, and that is final.
    await expect(phone.confirm(browser.qr())).rejects.toMatchObject({ status: 409, code: "wrong_state" });
    expect(sent).toHaveLength(1);
  });

  it("stops resending once the confirmation window is over, and reports the last failure", async () => {
    clock.start();
    const browser = await BrowserClient.open();
    const { phone, sent } = await phoneWithConfirm(async () => {
      clock.advance(25_000);
      return unavailable();
    });
    await scan(browser, phone);
    // Sent at 0 s (failing at 25 s), resent at 25.5 s (failing at 50.5 s), resent at 51.5 s (failing at 76.5 s): over.
    await expect(phone.confirm(browser.qr())).rejects.toMatchObject({ status: 503, code: "unavailable" });
    expect(sent).toHaveLength(3);
  });
});
