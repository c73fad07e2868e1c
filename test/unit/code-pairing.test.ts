import { describe, expect, it } from "vitest";
import { BrowserCodePairing } from "../../src/clients/browser/code-pairing";
import { codeLinkSecret, codeShare } from "../../src/shared/code-exchange";
import { deriveLinkKeys, generateAgreementKeyPair, randomBase64url, signConfirmation } from "../../src/shared/crypto";
import { generateLinkCode, LINK_CODE_TRIES } from "../../src/shared/link-code";
import type { ServerMessageOf } from "../../src/shared/protocol";

const HOST = "qr.example";
const account = { number: "+15550001", name: "Alice" };

/** What a phone sends for `code`, as the phone core makes it, in the shape the browser receives it. */
async function phoneTry(code: string, sessionId: string, request: ReturnType<BrowserCodePairing["request"]>): Promise<ServerMessageOf<"code_try">> {
  const context = { code, sessionId, host: HOST, number: account.number };
  const own = codeShare(context);
  const agreement = await generateAgreementKeyPair();
  const exchange = { browserShare: request.browserShare, browserPublicKey: request.browserPublicKey, phoneShare: own.share, phonePublicKey: agreement.publicKey };
  const secret = codeLinkSecret(context, own, "phone", exchange)!;
  const keys = (await deriveLinkKeys(agreement.privateKey, request.browserPublicKey, secret, sessionId))!;
  const transcript = { sessionId, browserPublicKey: request.browserPublicKey, phonePublicKey: agreement.publicKey, ...account };
  return { type: "code_try", phoneShare: own.share, phonePublicKey: agreement.publicKey, confirmation: await signConfirmation(keys, transcript), account };
}

function wrong(code: string): string {
  return code.slice(0, 7) + (code[7] === "A" ? "B" : "A");
}

describe("the browser's check of a code try", () => {
  it("accepts the code it shows, with a two-digit number, and trusts only that try's link", async () => {
    const browser = await BrowserCodePairing.create();
    const sessionId = randomBase64url(16);
    const request = browser.request(sessionId, HOST, account.number);
    const attempt = await phoneTry(browser.code, sessionId, request);
    const verdict = await browser.check(attempt);
    expect(verdict).toEqual({ match: true, number: expect.stringMatching(/^\d{2}$/) });
    const linked = { type: "linked" as const, account, phonePublicKey: attempt.phonePublicKey, confirmation: attempt.confirmation, linkId: "a".repeat(64) };
    expect(await browser.verifyLinked(linked)).not.toBeNull();
    expect(await browser.verifyLinked({ ...linked, account: { ...account, name: "Mallory" } })).toBeNull();
  });

  it("refuses another code, and a try for another number than it asked a code for", async () => {
    const browser = await BrowserCodePairing.create();
    const sessionId = randomBase64url(16);
    const request = browser.request(sessionId, HOST, account.number);
    expect(await browser.check(await phoneTry(wrong(browser.code), sessionId, request))).toEqual({ match: false });
    const right = await phoneTry(browser.code, sessionId, request);
    expect(await browser.check({ ...right, account: { ...account, number: "+15550002" } })).toEqual({ match: false });
  });

  it("refuses every try after its third wrong one, the right code included, whatever the server does", async () => {
    const browser = await BrowserCodePairing.create(generateLinkCode());
    const sessionId = randomBase64url(16);
    const request = browser.request(sessionId, HOST, account.number);
    for (let i = 0; i < LINK_CODE_TRIES; i++) expect(await browser.check(await phoneTry(wrong(browser.code), sessionId, request))).toEqual({ match: false });
    expect(await browser.check(await phoneTry(browser.code, sessionId, request))).toEqual({ match: false });
  });
});
