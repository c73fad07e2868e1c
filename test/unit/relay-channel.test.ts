import { describe, expect, it, vi } from "vitest";
import { fromBase64url, openFrame, sealFrame } from "../../src/shared/crypto";
import type { ClientMessage, ServerMessage } from "../../src/shared/protocol";
import { emptyChannelState, RelayChannel, type ChannelEvents, type ChannelKeys, type ChannelState } from "../../src/shared/relay-channel";

const SESSION = "c2Vzc2lvbi1pZC0xMjM0NQ";
const ACCOUNT = { number: "+15550001", name: "Ada" };

async function aesKey(): Promise<CryptoKey> {
  return crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

async function linkKeys(): Promise<{ browser: ChannelKeys; phone: ChannelKeys }> {
  const [toPhone, toBrowser] = [await aesKey(), await aesKey()];
  return { browser: { send: toPhone, receive: toBrowser }, phone: { send: toBrowser, receive: toPhone } };
}

function ready(received: number, delivered = 0): ServerMessage {
  return { type: "ready", sessionId: SESSION, account: ACCOUNT, received, delivered, phone: "online" };
}

/** A browser-side channel on a socket that records what it sends. */
function browserChannel(keys: ChannelKeys, state: ChannelState, events: Partial<ChannelEvents> = {}) {
  const sent: ClientMessage[] = [];
  const saved: ChannelState[] = [];
  const channel = new RelayChannel(SESSION, "to_phone", keys, state, async (saving) => void saved.push(structuredClone(saving)), { message: () => {}, ...events });
  channel.attach((message) => sent.push(message));
  const frames = () => sent.filter((message) => message.type === "frame");
  return { channel, sent, saved, frames };
}

/**
 * Opens a sealed frame by hand, as docs/protocol.md describes it (version 2,
 * then the 12-byte nonce, then ciphertext and tag), so the nonce read out is
 * the one AES-GCM used.
 */
async function openByHand(key: CryptoKey, direction: string, frame: { seq: number; data: string }): Promise<{ nonce: string; plaintext: string }> {
  const bytes = fromBase64url(frame.data)!;
  expect(bytes[0]).toBe(2);
  const iv = bytes.slice(1, 13);
  const additionalData = new TextEncoder().encode(`qr-link-v2 frame\n${SESSION}\n${direction}\n${frame.seq}`);
  const plaintext = new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData }, key, bytes.slice(13)));
  return { nonce: Buffer.from(iv).toString("hex"), plaintext };
}

/** The phone's side, receiving what the browser sealed. */
function phoneReceiver(keys: ChannelKeys) {
  const received: string[] = [];
  const tampered: number[] = [];
  const channel = new RelayChannel(SESSION, "to_browser", keys, emptyChannelState(), async () => {}, {
    message: (plaintext) => void received.push(plaintext),
    tampered: (seq) => void tampered.push(seq),
  });
  return { channel, received, tampered };
}

describe("relay frames", () => {
  it("never seal two frames under one key and nonce, even from two writers that share one stored state", async () => {
    const keys = await linkKeys();
    const stored: ChannelState = { sent: 3, received: 2, unstored: [] };
    // Two tabs (or two phone processes, or a restored backup) start from the same saved state and keys.
    const first = browserChannel(keys.browser, structuredClone(stored));
    const second = browserChannel(keys.browser, structuredClone(stored));
    await first.channel.handle(ready(3));
    await second.channel.handle(ready(3));
    for (let i = 0; i < 20; i++) {
      await first.channel.send(`first tab ${i}`);
      await second.channel.send(`second tab ${i}`);
    }
    const frames = [...first.frames(), ...second.frames()];
    expect(frames).toHaveLength(40);
    // Both writers numbered their frames 4…23: the seqs collide, the nonces AES-GCM used do not.
    expect(new Set(frames.map((frame) => frame.seq)).size).toBe(20);
    const opened = await Promise.all(frames.map((frame) => openByHand(keys.phone.receive, "to_phone", frame)));
    expect(opened.slice(0, 2).map((frame) => frame.plaintext)).toEqual(["first tab 0", "first tab 1"]);
    expect(new Set(opened.map((frame) => frame.nonce)).size).toBe(40);

    // Whichever writer the server kept, the receiver opens its frames in order.
    const phone = phoneReceiver(keys.phone);
    await phone.channel.handle(ready(0));
    phone.channel.state.received = 3;
    for (const frame of second.frames()) await phone.channel.handle(frame);
    expect(phone.received).toEqual(Array.from({ length: 20 }, (_, i) => `second tab ${i}`));
    expect(phone.tampered).toEqual([]);
  });

  it("take a nonce of their own each, across the draws of random nonces", async () => {
    const keys = await linkKeys();
    const frames = await Promise.all(Array.from({ length: 600 }, (_, i) => sealFrame(keys.browser.send, SESSION, "to_phone", i + 1, `frame ${i}`)));
    const nonces = frames.map((frame) => Buffer.from(fromBase64url(frame)!.subarray(1, 13)).toString("hex"));
    expect(new Set(nonces).size).toBe(600);
    expect(await openFrame(keys.phone.receive, SESSION, "to_phone", 600, frames[599]!)).toBe("frame 599");
  });

  it("fail to open when replayed at another seq, turned around, or moved to another session", async () => {
    const keys = await linkKeys();
    const frame = await sealFrame(keys.browser.send, SESSION, "to_phone", 1, "hello");
    expect(await openFrame(keys.phone.receive, SESSION, "to_phone", 1, frame)).toBe("hello");
    expect(await openFrame(keys.phone.receive, SESSION, "to_phone", 2, frame)).toBeNull();
    expect(await openFrame(keys.phone.receive, SESSION, "to_browser", 1, frame)).toBeNull();
    expect(await openFrame(keys.phone.receive, "YW5vdGhlci1zZXNzaW9uLQ", "to_phone", 1, frame)).toBeNull();
    // One flipped bit anywhere (version, nonce, ciphertext, tag) and it does not open.
    const bytes = fromBase64url(frame)!;
    for (const index of [0, 5, 14, bytes.length - 1]) {
      const altered = bytes.slice();
      altered[index]! ^= 1;
      expect(await openFrame(keys.phone.receive, SESSION, "to_phone", 1, Buffer.from(altered).toString("base64url"))).toBeNull();
    }

    const phone = phoneReceiver(keys.phone);
    await phone.channel.handle({ type: "frame", seq: 1, data: frame });
    await phone.channel.handle({ type: "frame", seq: 2, data: frame });
    expect(phone.received).toEqual(["hello"]);
    expect(phone.tampered).toEqual([2]);
    expect(phone.channel.state.received).toBe(1);
  });

  it("still open a frame sealed before random nonces (the seq as the nonce), at its own seq only", async () => {
    const keys = await linkKeys();
    const legacy = async (seq: number, text: string) => {
      const iv = new Uint8Array(12);
      new DataView(iv.buffer).setBigUint64(4, BigInt(seq));
      const additionalData = new TextEncoder().encode(`qr-link-v1 frame ${SESSION} to_phone`);
      return Buffer.from(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData }, keys.browser.send, new TextEncoder().encode(text))).toString("base64url");
    };
    const frame = await legacy(7, "sealed by the old version");
    expect(await openFrame(keys.phone.receive, SESSION, "to_phone", 7, frame)).toBe("sealed by the old version");
    expect(await openFrame(keys.phone.receive, SESSION, "to_phone", 8, frame)).toBeNull();

    // Once the other side seals with random nonces, a version-1 frame (forgeable if a nonce was ever reused) is refused.
    const phone = phoneReceiver(keys.phone);
    await phone.channel.handle({ type: "frame", seq: 1, data: await legacy(1, "old") });
    await phone.channel.handle({ type: "frame", seq: 2, data: await sealFrame(keys.browser.send, SESSION, "to_phone", 2, "new") });
    await phone.channel.handle({ type: "frame", seq: 3, data: await legacy(3, "old again") });
    expect(phone.received).toEqual(["old", "new"]);
    expect(phone.tampered).toEqual([3]);
    expect(phone.channel.state.peerSealsCurrent).toBe(true);
  });
});

describe("a message whose handling fails", () => {
  it("is tried again, and what came after it waits, so each is handled once and in order", async () => {
    vi.useFakeTimers();
    try {
      const keys = await linkKeys();
      const handled: string[] = [];
      let failures = 1;
      const phone = new RelayChannel(SESSION, "to_browser", keys.phone, emptyChannelState(), async () => {}, {
        message: async (plaintext) => {
          if (plaintext === "second" && failures-- > 0) throw new Error("storage busy");
          handled.push(plaintext);
        },
      });
      const acks: number[] = [];
      phone.attach((message) => message.type === "ack" && acks.push(message.seq));
      await phone.handle(ready(0));
      const texts = ["first", "second", "third", "fourth"];
      for (const [index, text] of texts.entries()) await phone.handle({ type: "frame", seq: index + 1, data: await sealFrame(keys.browser.send, SESSION, "to_phone", index + 1, text) });
      expect(handled).toEqual(["first"]);
      expect(phone.state.received).toBe(1);
      await vi.advanceTimersByTimeAsync(1_000);
      await vi.waitFor(() => expect(handled).toEqual(texts));
      expect(phone.state.received).toBe(4);
      expect(acks.at(-1)).toBe(4);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("a server that claims frames this side never sealed", () => {
  async function sentThree() {
    const keys = await linkKeys();
    const refused: string[] = [];
    const ticks: string[] = [];
    const browser = browserChannel(keys.browser, emptyChannelState(), {
      refused: (reason) => void refused.push(reason),
      stored: (seq) => void ticks.push(`stored ${seq}`),
      delivered: (seq) => void ticks.push(`delivered ${seq}`),
    });
    for (const text of ["one", "two", "three"]) await browser.channel.send(text);
    return { ...browser, keys, refused, ticks };
  }

  it.each([
    ["a ready that says it holds more", ready(5)],
    ["a ready that says the other side has more", ready(0, 4)],
    ["a stored above what was sealed", { type: "stored", seq: 4 } as ServerMessage],
    ["a delivered above what was sealed", { type: "delivered", seq: 9 } as ServerMessage],
  ])("is refused: %s", async (_name, lie) => {
    const browser = await sentThree();
    await browser.channel.handle(lie);
    expect(browser.refused).toHaveLength(1);
    expect(browser.refused[0]).toMatch(/sealed only 3/);
    // Nothing it claims is believed: no frame dropped, no tick shown.
    expect(browser.channel.state.unstored.map((frame) => frame.seq)).toEqual([1, 2, 3]);
    expect(browser.ticks).toEqual([]);
    // The socket is no longer used: not for resends, acks, or new frames; and what comes after is ignored.
    const before = browser.sent.length;
    await browser.channel.handle(ready(0));
    await browser.channel.handle({ type: "frame", seq: 1, data: await sealFrame(browser.keys.phone.send, SESSION, "to_browser", 1, "hi") });
    await browser.channel.send("four");
    browser.channel.attach((message) => browser.sent.push(message));
    await browser.channel.send("five");
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(browser.sent.length).toBe(before);
    expect(browser.channel.state.received).toBe(0);
    expect(browser.ticks).toEqual([]);
  });

  it("is believed up to what was sealed", async () => {
    const browser = await sentThree();
    await browser.channel.handle(ready(2, 1));
    await browser.channel.handle({ type: "stored", seq: 3 });
    await browser.channel.handle({ type: "delivered", seq: 3 });
    expect(browser.refused).toEqual([]);
    expect(browser.channel.state.unstored).toEqual([]);
    expect(browser.ticks).toEqual(["delivered 1", "stored 3", "delivered 3"]);
  });
});
