// Properties of the protocol's parsers, as plain functions: whatever text
// arrives, each returns a valid value or null, never throws, and reads back
// what its writer wrote.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  clientMessageSchema,
  confirmRequestSchema,
  credentialsFromSubprotocols,
  credentialsToSubprotocols,
  formatQrText,
  inspectRequestSchema,
  parseClientMessage,
  parseQrText,
  phoneNumberSchema,
  registerRequestSchema,
  rejectRequestSchema,
  revokeRequestSchema,
  type ClientMessage,
} from "../../src/shared/protocol";
import { addressKey } from "../../src/worker/rate-limit";

const RUNS = 10_000;
const base64url = (length: number) =>
  fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), minLength: length, maxLength: length });
const phoneNumber = fc.tuple(fc.integer({ min: 1, max: 9 }), fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 6, maxLength: 14 })).map(([first, rest]) => `+${first}${rest}`);
/** Text of every kind: arbitrary strings, JSON of any shape, and near misses of the real thing. */
const anyText = (nearMiss: fc.Arbitrary<string>) => fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 6 }), nearMiss);

const wellFormedMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc.constant({ type: "key_mismatch" as const }),
  fc.constant({ type: "logout" as const }),
  base64url(87).map((devicePublicKey) => ({ type: "link_ack" as const, devicePublicKey })),
  base64url(86).map((signature) => ({ type: "resume" as const, signature })),
  fc.record({ type: fc.constant("frame" as const), seq: fc.integer({ min: 1 }), data: base64url(40) }),
  fc.record({ type: fc.constant("ack" as const), seq: fc.integer({ min: 1 }) }),
);

describe("parseClientMessage (every WebSocket message from a browser or phone)", () => {
  it("returns a valid message or null for any text, and never throws", () => {
    const nearMiss = wellFormedMessage.chain((message) =>
      fc.tuple(fc.constantFrom(...Object.keys(message)), fc.anything({ maxDepth: 2 })).map(([key, value]) => JSON.stringify({ ...message, [key]: value })),
    );
    fc.assert(
      fc.property(anyText(nearMiss), (text) => {
        const message = parseClientMessage(text);
        if (message !== null) expect(clientMessageSchema.safeParse(message).success).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it("reads back every well-formed message exactly, and refuses binary ones", () => {
    fc.assert(
      fc.property(wellFormedMessage, (message) => {
        expect(parseClientMessage(JSON.stringify(message))).toEqual(message);
        expect(parseClientMessage(new TextEncoder().encode(JSON.stringify(message)).buffer as ArrayBuffer)).toBeNull();
      }),
      { numRuns: RUNS },
    );
  });
});

describe("parseQrText (what a phone reads from a code)", () => {
  const payload = fc.record({ sessionId: base64url(22), token: base64url(22), browserPublicKey: base64url(43), qrSecret: base64url(22) });
  const origin = fc.constantFrom("https://qr.example", "http://127.0.0.1:8787", "https://link.example.org");

  it("reads back every code the browser draws", () => {
    fc.assert(
      fc.property(origin, payload, (at, fields) => {
        expect(parseQrText(formatQrText(at, fields))).toEqual({ origin: at, ...fields });
      }),
      { numRuns: RUNS },
    );
  });

  it("returns null or a payload of valid fields for any text, and never throws", () => {
    const nearMiss = fc
      .tuple(origin, payload, fc.nat({ max: 3 }), fc.string({ maxLength: 30 }))
      .map(([at, fields, field, junk]) => {
        const parts = [fields.sessionId, fields.token, fields.browserPublicKey, fields.qrSecret];
        parts[field] = junk;
        return `${at}/link#${parts.join(".")}`;
      });
    fc.assert(
      fc.property(anyText(nearMiss), (text) => {
        const parsed = parseQrText(text);
        if (parsed === null) return;
        expect(parsed.sessionId).toMatch(/^[\w-]{22}$/);
        expect(parsed.token).toMatch(/^[\w-]{22}$/);
        expect(parsed.browserPublicKey).toMatch(/^[\w-]{43}$/);
        expect(parsed.qrSecret).toMatch(/^[\w-]{22}$/);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("credentialsFromSubprotocols (a phone page's signed socket)", () => {
  const credentials = fc.record({ number: phoneNumber, timestamp: fc.nat().map(String), signature: base64url(86) });

  it("reads back what the phone page offers", () => {
    fc.assert(
      fc.property(credentials, (offered) => {
        expect(credentialsFromSubprotocols(credentialsToSubprotocols(offered).join(", "))).toEqual(offered);
      }),
      { numRuns: RUNS },
    );
  });

  it("returns null or three non-empty fields for any header, and never throws", () => {
    const nearMiss = fc.array(fc.oneof(fc.constantFrom("qrl-v1", "n.", "t.", "s."), fc.string({ maxLength: 12 })), { maxLength: 6 }).map((values) => values.join(","));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), nearMiss), (header) => {
        const parsed = credentialsFromSubprotocols(header);
        if (parsed === null) return;
        expect(parsed.number.startsWith("+")).toBe(true);
        expect(parsed.timestamp.length * parsed.signature.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("the phone's request bodies", () => {
  const schemas = { registerRequestSchema, inspectRequestSchema, confirmRequestSchema, rejectRequestSchema, revokeRequestSchema };

  for (const [name, schema] of Object.entries(schemas)) {
    it(`${name} accepts or refuses any JSON without throwing, and keeps no field it does not know`, () => {
      fc.assert(
        fc.property(fc.json({ maxDepth: 6 }), (text) => {
          const parsed = schema.safeParse(JSON.parse(text));
          if (parsed.success) expect(Object.keys(parsed.data as object).every((key) => key in schema.def.shape)).toBe(true);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it("phone numbers: E.164 only", () => {
    fc.assert(
      fc.property(fc.oneof(phoneNumber, fc.string({ maxLength: 20 })), (text) => {
        expect(phoneNumberSchema.safeParse(text).success).toBe(/^\+[1-9]\d{6,14}$/.test(text));
      }),
      { numRuns: RUNS },
    );
  });
});

describe("addressKey (what the per-address rate limits count by)", () => {
  const group = fc.integer({ min: 0, max: 0xffff }).map((value) => value.toString(16));
  const ipv6 = fc.array(group, { minLength: 8, maxLength: 8 });

  it("counts every IPv6 address of one /64 as one, however it is written, and different /64s apart", () => {
    fc.assert(
      fc.property(ipv6, ipv6, (a, b) => {
        const compressed = `${a.slice(0, 4).join(":")}::${a[7]}`;
        const sameNetwork = [...a.slice(0, 4), ...b.slice(4)].join(":");
        expect(addressKey(a.join(":"))).toBe(addressKey(sameNetwork));
        expect(addressKey(compressed)).toBe(addressKey(a.join(":")));
        if (a.slice(0, 4).some((value, i) => parseInt(value, 16) !== parseInt(b[i]!, 16))) expect(addressKey(a.join(":"))).not.toBe(addressKey(b.join(":")));
      }),
      { numRuns: RUNS },
    );
  });

  it("keeps IPv4 addresses whole, also when written as IPv6", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("203.0.113.8")).not.toBe(addressKey("203.0.113.7"));
    expect(addressKey(null)).toBe("unknown");
  });
});
