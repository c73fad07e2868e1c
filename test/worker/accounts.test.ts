import { env, listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { generateIdentityKeyPair, randomBase64url } from "../../src/shared/crypto";
import { Phone, type PhoneIdentity } from "../../src/clients/phone-core/phone";
import { LIMITS } from "../../src/shared/protocol";
import { hasState } from "../../src/worker/migrations";
import { BrowserClient, errorCode, ORIGIN, phoneFetch, registeredPhone, signedPost, workerFetch } from "./helpers";

async function newIdentity(number: string, name = "Alice"): Promise<PhoneIdentity> {
  return { number, name, ...(await generateIdentityKeyPair(false)) };
}

const registerBody = (identity: PhoneIdentity) => JSON.stringify({ number: identity.number, name: identity.name, publicKey: identity.publicKey });

describe("phone registration", () => {
  it("registers a number with its key, and lets the same key change the name", async () => {
    const identity = await newIdentity("+15550001");
    const phone = new Phone(ORIGIN, identity, phoneFetch());
    await expect(phone.register()).resolves.toEqual({ number: "+15550001", name: "Alice" });
    const renamed = new Phone(ORIGIN, { ...identity, name: "Alice B." }, phoneFetch());
    await expect(renamed.register()).resolves.toEqual({ number: "+15550001", name: "Alice B." });
  });

  it("does not let another key take a registered number over", async () => {
    await new Phone(ORIGIN, await newIdentity("+15550002"), phoneFetch()).register();
    const intruder = new Phone(ORIGIN, await newIdentity("+15550002", "Mallory"), phoneFetch());
    await expect(intruder.register()).rejects.toMatchObject({ status: 409, code: "number_taken" });
  });

  it("requires the registration to be signed by the key it registers", async () => {
    const identity = await newIdentity("+15550003");
    const other = await newIdentity("+15550003");
    const response = await signedPost(other, "/api/accounts", registerBody(identity));
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe("bad_signature");
    const stored = await runInDurableObject(env.ACCOUNT.getByName(identity.number), (_instance, state) => hasState(state.storage));
    expect(stored).toBe(false);
  });

  it("refuses bad numbers and names with a clear error", async () => {
    // The signed number is checked before the body is read: a malformed one is no signature.
    for (const number of ["15550004", "+1"]) {
      const identity = await newIdentity(number, "Alice");
      const response = await signedPost(identity, "/api/accounts", registerBody(identity));
      expect(response.status, number).toBe(401);
      expect(await errorCode(response)).toBe("missing_signature");
    }
    for (const name of ["", "x".repeat(LIMITS.nameLength + 1), "a\u0007b"]) {
      const identity = await newIdentity("+15550004", name);
      const response = await signedPost(identity, "/api/accounts", registerBody(identity));
      expect(response.status, name).toBe(400);
      expect(await errorCode(response)).toBe("invalid_input");
    }
  });

  it("refuses malformed JSON and oversized bodies, and stores nothing", async () => {
    const identity = await newIdentity("+15550005");
    const malformed = await signedPost(identity, "/api/accounts", "{\"number\": ");
    expect(malformed.status).toBe(400);
    expect(await errorCode(malformed)).toBe("bad_json");

    const oversized = await signedPost(identity, "/api/accounts", JSON.stringify({ number: identity.number, name: "A", publicKey: identity.publicKey, pad: "x".repeat(LIMITS.phoneRequestBytes) }));
    expect(oversized.status).toBe(413);
    expect(await errorCode(oversized)).toBe("payload_too_large");
    const touched = (await listDurableObjectIds(env.ACCOUNT)).map((id) => id.toString());
    expect(touched).not.toContain(env.ACCOUNT.idFromName(identity.number).toString());
  });
});

describe("signed phone requests", () => {
  async function inspectBody(): Promise<string> {
    const browser = await BrowserClient.open();
    const qr = browser.qr();
    return JSON.stringify({ sessionId: qr.sessionId, token: qr.token, phonePublicKey: randomBase64url(32) });
  }

  it("are refused without signature headers", async () => {
    const response = await workerFetch("/api/link/inspect", { method: "POST", headers: { "content-type": "application/json" }, body: await inspectBody() });
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe("missing_signature");
  });

  it("are refused when the body was changed after signing", async () => {
    const phone = await registeredPhone();
    const body = await inspectBody();
    const response = await signedPost(phone.identity, "/api/link/inspect", body, { signedBody: body.replace("}", " }") });
    expect(response.status).toBe(401);
    expect(await errorCode(response)).toBe("bad_signature");
  });

  it("are refused outside the 60 s window", async () => {
    const phone = await registeredPhone();
    for (const skew of [-61_000, 61_000]) {
      const response = await signedPost(phone.identity, "/api/link/inspect", await inspectBody(), { timestamp: Date.now() + skew });
      expect(response.status).toBe(401);
      expect(await errorCode(response)).toBe("stale_request");
    }
  });

  it("are refused for an unknown number, or one signed by another phone's key", async () => {
    const stranger = await newIdentity("+15550006");
    const unknown = await signedPost(stranger, "/api/link/inspect", await inspectBody());
    expect(await errorCode(unknown)).toBe("unknown_account");

    const phone = await registeredPhone();
    const impostor = await signedPost(stranger, "/api/link/inspect", await inspectBody(), { number: phone.identity.number });
    expect(impostor.status).toBe(401);
    expect(await errorCode(impostor)).toBe("bad_signature");
  });

  it("are accepted once: a replayed request is refused", async () => {
    const phone = await registeredPhone();
    const browser = await BrowserClient.open();
    const body = JSON.stringify({ sessionId: browser.sessionId, token: browser.qr().token, phonePublicKey: randomBase64url(32) });
    const timestamp = Date.now();
    const first = await signedPost(phone.identity, "/api/link/inspect", body, { timestamp });
    expect(first.status).toBe(200);
    const replay = await signedPost(phone.identity, "/api/link/inspect", body, { timestamp });
    expect(replay.status).toBe(401);
    expect(await errorCode(replay)).toBe("replayed_request");
  });
});
