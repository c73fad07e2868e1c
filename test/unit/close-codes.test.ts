import { describe, expect, it } from "vitest";
import { closeMeaning, endingOf } from "../../src/clients/connection/close-codes";
import { CLOSE_CODES } from "../../src/shared/protocol";

describe("what a close code means", () => {
  it("stops a phone for good on unknown_session, logged_out, key_mismatch, and replaced: another phone took over", () => {
    for (const reason of ["unknown_session", "logged_out", "key_mismatch", "replaced"] as const) {
      expect(closeMeaning("phone", CLOSE_CODES[reason])).toMatchObject({ final: true, reason });
    }
    expect(closeMeaning("phone", CLOSE_CODES.replaced)).toEqual({ final: true, reason: "replaced", notice: "Another phone took over this link." });
  });

  it("stops a linked browser on its endings, and on replaced: another tab has it", () => {
    for (const reason of ["unknown_session", "resume_refused", "logged_out", "revoked", "inactive", "replaced"] as const) {
      expect(closeMeaning("browser", CLOSE_CODES[reason])).toMatchObject({ final: true, reason });
    }
    expect(closeMeaning("browser", CLOSE_CODES.replaced)).toMatchObject({ notice: "QR Link is open in another window. Reload to use it here." });
    expect(closeMeaning("browser", CLOSE_CODES.resume_refused)).toMatchObject({ notice: "This browser could not prove its link, so it was logged out." });
  });

  it("stops the QR screen when its session ended, not when the connection merely dropped", () => {
    for (const reason of ["expired", "rejected", "key_mismatch", "too_many_attempts", "wrong_number"] as const) {
      expect(closeMeaning("pairing", CLOSE_CODES[reason])).toMatchObject({ final: true, reason });
    }
    expect(closeMeaning("pairing", CLOSE_CODES.unknown_session)).toEqual({ final: false });
  });

  it("reconnects every role after the network, a server error, a missed heartbeat, a refused upgrade or an unknown code", () => {
    for (const role of ["pairing", "browser", "phone"] as const) {
      for (const code of [1000, 1001, 1006, CLOSE_CODES.internal_error, CLOSE_CODES.heartbeat_timeout, CLOSE_CODES.too_many_sockets, CLOSE_CODES.bad_message, 4999]) {
        expect(closeMeaning(role, code), `${role} ${code}`).toEqual({ final: false });
      }
    }
  });

  it("tells each role what an `ended` message means, with a plain notice for an ending it has no words for", () => {
    expect(endingOf("browser", "revoked")).toEqual({ reason: "revoked", notice: "This browser was logged out from your phone." });
    expect(endingOf("phone", "revoked")).toEqual({ reason: "revoked", notice: "You logged this browser out." });
    expect(endingOf("browser", "expired")).toEqual({ reason: "expired", notice: "This link has ended." });
  });
});
