import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clientMessageSchema, parseClientMessage, parseJson } from "../../src/shared/protocol";

/** What the schema alone reads from a text: the definition the quick reading of frames and acks must match. */
const bySchema = (raw: string) => parseJson(clientMessageSchema, raw);

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const base64url = fc.string({ unit: fc.constantFrom(...BASE64URL), minLength: 0, maxLength: 40 });
/** Seqs around every edge: zero, negative, fractions, exponents, the last safe integer and past it, leading zeros. */
const seqText = fc.oneof(
  fc.integer({ min: -5, max: 2_000 }).map(String),
  fc.constantFrom("0", "01", "-1", "1.5", "1.0", "1e3", "1E3", " 1", "9007199254740991", "9007199254740992", "999999999999999", "1000000000000000", "99999999999999999999", '"7"', "null", "true"),
  fc.bigInt({ min: 1n, max: 10n ** 20n }).map(String),
);
/** Data that is base64url, and data that is nearly so: escapes, padding, other alphabets, nothing. */
const dataText = fc.oneof(
  base64url.map((data) => `"${data}"`),
  fc.constantFrom('""', '"abc="', '"a+b/"', '"\\u0041bc"', '"ab\\/c"', '"a b"', '"é"', "1", "null", '["a"]'),
  fc.string().map((text) => JSON.stringify(text)),
);
/** Texts near the two busy messages as clients write them, and with every kind of small change. */
const nearFrameOrAck = fc.oneof(
  fc.tuple(seqText, dataText).map(([seq, data]) => `{"type":"frame","seq":${seq},"data":${data}}`),
  seqText.map((seq) => `{"type":"ack","seq":${seq}}`),
  fc.tuple(seqText, dataText).map(([seq, data]) => `{"data":${data},"seq":${seq},"type":"frame"}`),
  fc.tuple(seqText, dataText).map(([seq, data]) => `{ "type": "frame", "seq": ${seq}, "data": ${data} }`),
  fc.tuple(seqText, dataText).map(([seq, data]) => `{"type":"frame","seq":${seq},"data":${data},"extra":1}`),
  fc.tuple(seqText, dataText).map(([seq, data]) => `{"type":"frame","seq":${seq},"seq":2,"data":${data}}`),
  fc.tuple(seqText, fc.constantFrom("", " ", "\n", "x", "}")).map(([seq, tail]) => `{"type":"ack","seq":${seq}}${tail}`),
  fc.tuple(seqText, dataText, fc.constantFrom("Frame", "frames", "ack", "stored")).map(([seq, data, type]) => `{"type":"${type}","seq":${seq},"data":${data}}`),
);

describe("reading a client message", () => {
  it("reads frames and acks as clients write them", () => {
    expect(parseClientMessage('{"type":"frame","seq":7,"data":"AbC-_9"}')).toEqual({ type: "frame", seq: 7, data: "AbC-_9" });
    expect(parseClientMessage('{"type":"ack","seq":12}')).toEqual({ type: "ack", seq: 12 });
    expect(parseClientMessage(JSON.stringify({ type: "frame", seq: 9007199254740991, data: "x" }))).toEqual({ type: "frame", seq: 9007199254740991, data: "x" });
  });

  it("refuses what the schema refuses, near a frame or an ack", () => {
    for (const raw of ['{"type":"frame","seq":0,"data":"a"}', '{"type":"frame","seq":1,"data":""}', '{"type":"frame","seq":1,"data":"a="}', '{"type":"ack","seq":1.5}', '{"type":"ack","seq":9007199254740992}', '{"type":"ack","seq":-1}', '{"type":"ack"}']) {
      expect(parseClientMessage(raw)).toBeNull();
    }
    expect(parseClientMessage(new ArrayBuffer(8))).toBeNull();
  });

  it("reads exactly what the schema reads, from texts near a frame or an ack", () => {
    fc.assert(
      fc.property(nearFrameOrAck, (raw) => {
        expect(parseClientMessage(raw)).toEqual(bySchema(raw));
      }),
      { numRuns: 5_000 },
    );
  });

  it("reads exactly what the schema reads, from any text", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (raw) => {
        expect(parseClientMessage(raw)).toEqual(bySchema(raw));
      }),
      { numRuns: 2_000 },
    );
  });
});
