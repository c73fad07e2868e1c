import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseServerMessage } from "../../src/shared/protocol";

describe("reading a server message", () => {
  it("never throws, whatever arrives", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.anything()), (raw) => {
        expect(() => parseServerMessage(raw)).not.toThrow();
      }),
    );
  });

  it("reads the kinds it knows and drops anything else", () => {
    expect(parseServerMessage('{"type":"presence","phone":"offline"}')).toEqual({ type: "presence", phone: "offline" });
    for (const raw of ["{", "pong", "[]", '{"type":"presence","phone":"away"}', '{"type":"unheard_of"}', new ArrayBuffer(4), null]) {
      expect(parseServerMessage(raw)).toBeNull();
    }
  });
});
