import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { generateIdentityKeyPair, sealFrame, signResume } from "../../src/shared/crypto";
import { CLOSE_CODES, LIMITS, RELAY_SUBPROTOCOL } from "../../src/shared/protocol";
import { RelayChannel, emptyChannelState } from "../../src/shared/relay-channel";
import { clock, endpoint, errorCode, linkedPair, openPhoneSocket, ORIGIN, registeredPhone, resumeBrowser, resumePath, storedTables, TestSocket, workerFetch } from "./helpers";

afterEach(() => clock.stop());

const texts = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);

/** Waits until the server says it holds every frame up to `seq` from this socket. */
function storedUpTo(socket: TestSocket, seq: number): Promise<void> {
  return socket.until(() => socket.all("stored").some((stored) => stored.seq >= seq), `frames up to ${seq} stored`);
}

async function sendAll(channel: RelayChannel, messages: string[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const message of messages) seqs.push(await channel.send(message));
  return seqs;
}

describe("the relay", () => {
  it("carries messages both ways, in order, encrypted end to end", async () => {
    const pair = await linkedPair();
    const browser = endpoint(pair.browser, pair.browser.sessionId, "to_phone", pair.browserKeys);
    const phone = endpoint(pair.phoneSocket, pair.browser.sessionId, "to_browser", pair.phoneKeys);

    await sendAll(phone.channel, texts("from phone", 20));
    await sendAll(browser.channel, texts("from browser", 10));
    await pair.browser.until(() => browser.received.length === 20, "20 frames at the browser");
    await pair.phoneSocket.until(() => phone.received.length === 10, "10 frames at the phone");
    expect(browser.received).toEqual(texts("from phone", 20));
    expect(phone.received).toEqual(texts("from browser", 10));
  });

  it("tells the sender when the server holds a frame, then when the other side has it", async () => {
    const pair = await linkedPair();
    const browser = endpoint(pair.browser, pair.browser.sessionId, "to_phone", pair.browserKeys);
    expect(pair.browser.all("presence")).toEqual([{ type: "presence", phone: "online" }]);
    pair.phoneSocket.socket.close(1000, "phone away");
    expect(await pair.browser.waitFor("presence", 2)).toEqual({ type: "presence", phone: "offline" });

    const seq = await browser.channel.send("are you there?");
    expect(await pair.browser.waitFor("stored")).toEqual({ type: "stored", seq });
    expect(pair.browser.all("delivered")).toHaveLength(0);

    const phoneSocket = await openPhoneSocket(pair.phone, pair.browser);
    const phone = endpoint(phoneSocket, pair.browser.sessionId, "to_browser", pair.phoneKeys);
    await phoneSocket.until(() => phone.received.length === 1, "the buffered frame at the phone");
    expect(phone.received).toEqual(["are you there?"]);
    expect(await pair.browser.waitFor("delivered")).toEqual({ type: "delivered", seq });
    expect(await pair.browser.waitFor("presence", 3)).toEqual({ type: "presence", phone: "online" });
  });

  it("holds frames for a browser that is away and gives them, in order and once, to the reloaded browser", async () => {
    const pair = await linkedPair();
    const phone = endpoint(pair.phoneSocket, pair.browser.sessionId, "to_browser", pair.phoneKeys);
    const first = endpoint(pair.browser, pair.browser.sessionId, "to_phone", pair.browserKeys);
    await sendAll(phone.channel, texts("chat", 5));
    await pair.browser.until(() => first.received.length === 5, "the first 5");
    const state = first.channel.state;
    pair.browser.socket.close(1000, "reload");

    await sendAll(phone.channel, texts("while away", 30));
    await storedUpTo(pair.phoneSocket, 35);
    const reloaded = await resumeBrowser(pair.browser, pair.deviceKey);
    const second = endpoint(reloaded, pair.browser.sessionId, "to_phone", pair.browserKeys, state);
    // Frames that raced the closing socket may have reached the first page; together they are all there once.
    await reloaded.until(() => first.received.length + second.received.length === 35, "the 30 held frames");
    expect([...first.received, ...second.received]).toEqual([...texts("chat", 5), ...texts("while away", 30)]);
    // The reloaded browser acknowledges them all: the phone hears that every frame was delivered.
    await pair.phoneSocket.until(() => pair.phoneSocket.all("delivered").some((message) => message.seq === 35), "delivered up to 35");
  });

  it("stores a resent frame once, puts frames back in order, and refuses one too far ahead", async () => {
    const pair = await linkedPair();
    const sessionId = pair.browser.sessionId;
    const browser = endpoint(pair.browser, sessionId, "to_phone", pair.browserKeys);
    const frame = { type: "frame", seq: 1, data: await sealFrame(pair.phoneKeys.send, sessionId, "to_browser", 1, "only once") };
    pair.phoneSocket.send(frame);
    pair.phoneSocket.send(frame);
    await pair.phoneSocket.waitFor("stored", 2);
    expect(pair.phoneSocket.all("stored")).toEqual([{ type: "stored", seq: 1 }, { type: "stored", seq: 1 }]);

    // Frame 3 before frame 2 is held back; it goes out, and is acknowledged, once 2 arrives.
    pair.phoneSocket.send({ type: "frame", seq: 3, data: await sealFrame(pair.phoneKeys.send, sessionId, "to_browser", 3, "third") });
    pair.phoneSocket.send({ type: "frame", seq: 1 + LIMITS.bufferFrames + 1, data: "AAAA" });
    expect(await pair.phoneSocket.waitFor("error")).toMatchObject({ code: "out_of_order", expected: 2 });
    await pair.browser.until(() => browser.received.length === 1, "the first frame");
    expect(pair.phoneSocket.all("stored").at(-1)).toEqual({ type: "stored", seq: 1 });
    pair.phoneSocket.send({ type: "frame", seq: 2, data: await sealFrame(pair.phoneKeys.send, sessionId, "to_browser", 2, "second") });
    expect(await pair.phoneSocket.waitFor("stored", 3)).toEqual({ type: "stored", seq: 3 });
    await pair.browser.until(() => browser.received.length === 3, "all three frames");
    expect(browser.received).toEqual(["only once", "second", "third"]);
    await pair.phoneSocket.until(() => pair.phoneSocket.all("delivered").some((message) => message.seq === 3), "delivered up to 3");
    const rows = await runInDurableObject(pair.browser.stub, (_instance, state) => state.storage.sql.exec("SELECT count(*) AS n FROM relay_frame").one().n);
    expect(rows).toBe(0);
  });

  it("refuses, at the receiver, a frame replayed or moved to another position", async () => {
    const pair = await linkedPair();
    const sessionId = pair.browser.sessionId;
    const tampered: number[] = [];
    const received: string[] = [];
    const channel = new RelayChannel(sessionId, "to_phone", pair.browserKeys, emptyChannelState(), async () => {}, {
      message: (plaintext) => void received.push(plaintext),
      tampered: (seq) => void tampered.push(seq),
    });
    const first = await sealFrame(pair.phoneKeys.send, sessionId, "to_browser", 1, "first");
    await channel.handle({ type: "frame", seq: 1, data: first });
    // A relay that replays frame 1 as frame 2: its additional data names seq 1, so it does not open.
    await channel.handle({ type: "frame", seq: 2, data: first });
    // A frame sealed for another session does not open either.
    await channel.handle({ type: "frame", seq: 2, data: await sealFrame(pair.phoneKeys.send, "another-session", "to_browser", 2, "elsewhere") });
    expect(received).toEqual(["first"]);
    expect(tampered).toEqual([2, 2]);
    expect(channel.state.received).toBe(1);
  });

  it("refuses, at a second writer started from the same stored state, a ready that claims frames it never sealed, and sends nothing", async () => {
    const pair = await linkedPair();
    const sessionId = pair.browser.sessionId;
    const phone = endpoint(pair.phoneSocket, sessionId, "to_browser", pair.phoneKeys);
    const stored = emptyChannelState();
    // The first tab sends from the stored state; the server holds its frames 1 and 2.
    const first = endpoint(pair.browser, sessionId, "to_phone", pair.browserKeys, structuredClone(stored));
    await sendAll(first.channel, ["first tab 1", "first tab 2"]);
    await storedUpTo(pair.browser, 2);
    pair.browser.socket.close(1000, "another tab takes over");

    // A second tab loaded the same state before the first one's saves: it sealed nothing the server holds.
    const reloaded = await resumeBrowser(pair.browser, pair.deviceKey);
    const refused: string[] = [];
    const stale = new RelayChannel(sessionId, "to_phone", pair.browserKeys, structuredClone(stored), async () => {}, {
      message: () => {},
      stored: (seq) => refused.push(`stored ${seq} shown`),
      refused: (reason) => void refused.push(reason),
    });
    const transmitted: string[] = [];
    stale.attach((message) => {
      transmitted.push(message.type);
      reloaded.send(message);
    });
    reloaded.subscribe((message) => void stale.handle(message));
    await reloaded.until(() => refused.length > 0, "the refusal");
    expect(refused).toEqual(["the server claims frame 2 from this side, which sealed only 0"]);
    // Its message stays unsent, not shown as stored, and the phone has the first tab's frames only, each once.
    await stale.send("second tab 1");
    expect(stale.state.unstored.map((frame) => frame.seq)).toEqual([1]);
    await pair.phoneSocket.until(() => phone.received.length === 2, "the first tab's frames");
    expect(phone.received).toEqual(["first tab 1", "first tab 2"]);
    expect(transmitted).toEqual([]);
  });

  it("keeps no plaintext in its storage or in the bytes it relays", async () => {
    const pair = await linkedPair();
    const secret = "meet me under the old oak at 7";
    const browser = endpoint(pair.browser, pair.browser.sessionId, "to_phone", pair.browserKeys);
    pair.phoneSocket.socket.close(1000, "away");
    await browser.channel.send(secret);
    await pair.browser.waitFor("stored");
    const { stored, held } = await runInDurableObject(pair.browser.stub, (_instance, state) => ({
      stored: ["session", "relay_frame"].map((table) => JSON.stringify(state.storage.sql.exec(`SELECT * FROM ${table}`).toArray())).join("\n"),
      held: state.storage.sql.exec("SELECT count(*) AS n FROM relay_frame WHERE id < 0").one().n,
    }));
    expect(held).toBe(1);
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(btoa(secret).slice(0, 12));

    const phoneSocket = await openPhoneSocket(pair.phone, pair.browser);
    const phone = endpoint(phoneSocket, pair.browser.sessionId, "to_browser", pair.phoneKeys);
    await phoneSocket.until(() => phone.received.length === 1, "the frame");
    expect(phone.received).toEqual([secret]);
    expect(phoneSocket.raw.join("\n")).not.toContain(secret);
  });

  it("loses nothing when the object is evicted mid-stream", async () => {
    const pair = await linkedPair();
    const sessionId = pair.browser.sessionId;
    const phone = endpoint(pair.phoneSocket, sessionId, "to_browser", pair.phoneKeys);
    const browserState = emptyChannelState();
    pair.browser.socket.close(1000, "away");
    await sendAll(phone.channel, texts("before eviction", 10));
    await storedUpTo(pair.phoneSocket, 10);

    await abortAllDurableObjects();
    // Sealed while the phone had no relay: they wait in its channel state and go out on reconnect.
    phone.channel.detach();
    await sendAll(phone.channel, texts("after eviction", 10));
    const phoneAgain = await openPhoneSocket(pair.phone, pair.browser);
    phone.channel.attach((message) => phoneAgain.send(message));
    phoneAgain.subscribe((message) => void phone.channel.handle(message));
    await phoneAgain.waitFor("stored");
    await phoneAgain.until(() => phone.channel.state.unstored.length === 0, "all frames stored");

    const reloaded = await resumeBrowser(pair.browser, pair.deviceKey);
    const browser = endpoint(reloaded, sessionId, "to_phone", pair.browserKeys, browserState);
    await reloaded.until(() => browser.received.length === 20, "all 20 frames");
    expect(browser.received).toEqual([...texts("before eviction", 10), ...texts("after eviction", 10)]);
    console.log(`eviction mid-stream: 20 frames sent, ${browser.received.length} received, ${20 - new Set(browser.received).size} doubled`);
  });

  it("refuses more frames when the buffer for the absent side is full", async () => {
    const pair = await linkedPair();
    pair.browser.socket.close(1000, "away");
    for (let batch = 0; batch < LIMITS.bufferFrames / 100; batch++) {
      for (let seq = batch * 100 + 1; seq <= (batch + 1) * 100; seq++) pair.phoneSocket.send({ type: "frame", seq, data: "AAAA" });
      await storedUpTo(pair.phoneSocket, (batch + 1) * 100);
    }
    pair.phoneSocket.send({ type: "frame", seq: LIMITS.bufferFrames + 1, data: "AAAA" });
    expect(await pair.phoneSocket.waitFor("error")).toMatchObject({ code: "buffer_full" });
    const held = await runInDurableObject(pair.browser.stub, (_instance, state) => state.storage.sql.exec("SELECT count(*) AS n FROM relay_frame WHERE id > 0").one().n);
    expect(held).toBe(LIMITS.bufferFrames);
  });

  it("stores a burst that reaches it out of order once, in order", async () => {
    const pair = await linkedPair();
    const sessionId = pair.browser.sessionId;
    const phone = endpoint(pair.phoneSocket, sessionId, "to_browser", pair.phoneKeys);
    const browser = endpoint(pair.browser, sessionId, "to_phone", pair.browserKeys);
    // Sealed while detached, then all sent at once when the relay is ready again.
    phone.channel.detach();
    await sendAll(phone.channel, texts("burst", 200));
    phone.channel.attach((message) => pair.phoneSocket.send(message));
    await phone.channel.handle({ ...(await pair.phoneSocket.waitFor("ready")), received: 0 });
    await pair.browser.until(() => browser.received.length === 200, "the whole burst");
    expect(browser.received).toEqual(texts("burst", 200));
  });

  it("writes a burst at once, forwards it in order, and says `stored` for it only once it is written", async () => {
    const pair = await linkedPair();
    for (let seq = 1; seq <= 100; seq++) pair.phoneSocket.send({ type: "frame", seq, data: `AAAA${seq}` });
    await storedUpTo(pair.phoneSocket, 100);
    await pair.browser.until(() => pair.browser.all("frame").length === 100, "the whole burst at the browser");
    expect(pair.browser.all("frame").map((frame) => frame.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const told = pair.phoneSocket.all("stored").map((stored) => stored.seq);
    // Fewer answers than frames: one a burst, each further than the last.
    expect(told.length).toBeLessThan(100);
    expect(told).toEqual([...told].sort((a, b) => a - b));
    // What the phone was told is in the database: an object evicted now still has it.
    await abortAllDurableObjects();
    const phoneAgain = await openPhoneSocket(pair.phone, pair.browser);
    expect(await phoneAgain.waitFor("ready")).toMatchObject({ received: 100 });
    expect(await runInDurableObject(pair.browser.stub, (_instance, state) => state.storage.sql.exec("SELECT count(*) AS n FROM relay_frame WHERE id > 0").one().n)).toBe(100);
  });

  it("never writes the frames of a burst the receiver acknowledges at once, and says `stored` and `delivered` after one write", async () => {
    const pair = await linkedPair();
    const statements: string[] = [];
    await runInDurableObject(pair.browser.stub, (_instance, state) => {
      const { sql } = state.storage;
      const exec = sql.exec.bind(sql);
      sql.exec = ((query: string, ...bindings: unknown[]) => {
        statements.push(query);
        return exec(query, ...bindings);
      }) as typeof sql.exec;
    });
    for (let seq = 1; seq <= 20; seq++) pair.phoneSocket.send({ type: "frame", seq, data: `AAAA${seq}` });
    await pair.browser.until(() => pair.browser.all("frame").length === 20, "the burst at the browser");
    pair.browser.send({ type: "ack", seq: 20 });
    await pair.phoneSocket.until(() => pair.phoneSocket.all("delivered").some((delivered) => delivered.seq === 20), "delivered up to 20");
    expect(pair.phoneSocket.all("stored").map((stored) => stored.seq)).toEqual([20]);
    // One write: the cursor moved, and not a frame in the table.
    expect(statements.filter((query) => /^(INSERT|UPDATE|DELETE)/.test(query))).toEqual([expect.stringMatching(/^UPDATE session SET to_browser_received/)]);
    // What the phone was told is in the database: an object evicted now still has it.
    await abortAllDurableObjects();
    const phoneAgain = await openPhoneSocket(pair.phone, pair.browser);
    expect(await phoneAgain.waitFor("ready")).toMatchObject({ received: 20, delivered: 20 });
  });

  it("tells a sender that reconnects while a write waits where the relay stands, written first", async () => {
    const pair = await linkedPair();
    for (let seq = 1; seq <= 3; seq++) pair.phoneSocket.send({ type: "frame", seq, data: `AAAA${seq}` });
    await pair.browser.until(() => pair.browser.all("frame").length === 3, "3 frames at the browser");
    // Not acknowledged: the write waits for the browser's ack. The phone's socket drops and it comes back at once.
    pair.phoneSocket.socket.close(1000, "network change");
    const phoneAgain = await openPhoneSocket(pair.phone, pair.browser);
    expect(await phoneAgain.waitFor("ready")).toMatchObject({ received: 3, delivered: 0 });
    expect(await runInDurableObject(pair.browser.stub, (_instance, state) => state.storage.sql.exec("SELECT count(*) AS n FROM relay_frame WHERE id > 0").one().n)).toBe(3);
  });

  it("writes nothing and tells nobody when the link ends while a write waits", async () => {
    const pair = await linkedPair();
    for (let seq = 1; seq <= 3; seq++) pair.phoneSocket.send({ type: "frame", seq, data: `AAAA${seq}` });
    await pair.browser.until(() => pair.browser.all("frame").length === 3, "3 frames at the browser");
    await pair.browser.stub.endLink("revoked");
    expect(await pair.phoneSocket.waitForClose()).toMatchObject({ code: CLOSE_CODES.revoked });
    // The waiting write runs now, as its timer would: the storage stays gone, and the phone was never told its frames were stored.
    await runInDurableObject(pair.browser.stub, (instance) => (instance as unknown as { handlers: { relay: { writeBurst(): void } } }).handlers.relay.writeBurst());
    expect(await storedTables(pair.browser.stub)).toBe(0);
    expect(pair.phoneSocket.all("stored")).toEqual([]);
  });

  it("sends every relay socket back to `ready` when a write fails, so a frame forwarded but never written is sent again", async () => {
    const pair = await linkedPair();
    pair.phoneSocket.send({ type: "frame", seq: 1, data: "AAAA" });
    await storedUpTo(pair.phoneSocket, 1);
    // The next write fails: the table it writes to is gone for a moment.
    await runInDurableObject(pair.browser.stub, (_instance, state) => state.storage.sql.exec("ALTER TABLE relay_frame RENAME TO frame_away"));
    pair.phoneSocket.send({ type: "frame", seq: 2, data: "BBBB" });
    // Frame 2 went on to the browser before the write; both sides are closed, not only the sender.
    await pair.browser.until(() => pair.browser.all("frame").length === 2, "frame 2 forwarded");
    expect(await pair.phoneSocket.waitForClose()).toMatchObject({ code: CLOSE_CODES.internal_error });
    expect(await pair.browser.waitForClose()).toMatchObject({ code: CLOSE_CODES.internal_error });
    expect(pair.phoneSocket.all("stored").map((stored) => stored.seq)).toEqual([1]);

    await runInDurableObject(pair.browser.stub, (_instance, state) => state.storage.sql.exec("ALTER TABLE frame_away RENAME TO relay_frame"));
    const phoneAgain = await openPhoneSocket(pair.phone, pair.browser);
    expect(await phoneAgain.waitFor("ready")).toMatchObject({ received: 1 });
    phoneAgain.send({ type: "frame", seq: 2, data: "BBBB" });
    await storedUpTo(phoneAgain, 2);
    const browser = await resumeBrowser(pair.browser, pair.deviceKey);
    // What the browser had not acknowledged, now all of it written: frame 1, and frame 2 once.
    await browser.until(() => browser.all("frame").length === 2, "frames 1 and 2 again");
    expect(browser.all("frame")).toEqual([
      { type: "frame", seq: 1, data: "AAAA" },
      { type: "frame", seq: 2, data: "BBBB" },
    ]);
  });

  it("counts exactly the bytes it holds, across a burst, an eviction and acks", async () => {
    const pair = await linkedPair();
    const heldBytes = () =>
      runInDurableObject(pair.browser.stub, (_instance, state) => ({
        counted: state.storage.sql.exec("SELECT to_browser_buffered_bytes AS n FROM session").one().n,
        held: state.storage.sql.exec("SELECT coalesce(sum(length(data)), 0) AS n FROM relay_frame WHERE id > 0").one().n,
      }));
    // Frame n is n bytes: 1 to 30 in order, 35 held ahead of a gap; after the eviction 35 again, and 31.
    for (let seq = 1; seq <= 30; seq++) pair.phoneSocket.send({ type: "frame", seq, data: "B".repeat(seq) });
    pair.phoneSocket.send({ type: "frame", seq: 35, data: "C".repeat(35) });
    await storedUpTo(pair.phoneSocket, 30);
    expect(await heldBytes()).toEqual({ counted: 465 + 35, held: 465 + 35 });

    await abortAllDurableObjects();
    const phoneAgain = await openPhoneSocket(pair.phone, pair.browser);
    await phoneAgain.waitFor("ready");
    phoneAgain.send({ type: "frame", seq: 35, data: "C".repeat(35) });
    phoneAgain.send({ type: "frame", seq: 31, data: "D".repeat(31) });
    await storedUpTo(phoneAgain, 31);
    expect(await heldBytes()).toEqual({ counted: 465 + 35 + 31, held: 465 + 35 + 31 });

    const browser = await resumeBrowser(pair.browser, pair.deviceKey);
    await browser.until(() => browser.all("frame").length === 31, "the 31 frames in order");
    browser.send({ type: "ack", seq: 20 });
    await phoneAgain.waitFor("delivered");
    // Frames 21 to 31 (frame n is n bytes) and the held 35 are left.
    const left = 11 * 26 + 35;
    expect(await heldBytes()).toEqual({ counted: left, held: left });
  });

  it("forwards a frame in its one serialization, whatever key order or spacing it came in", async () => {
    const pair = await linkedPair();
    // The same length as the usual form, keys in another order; then a space; then the usual form.
    pair.phoneSocket.socket.send('{"seq":1,"type":"frame","data":"AAAA"}');
    pair.phoneSocket.socket.send('{"type":"frame","seq":2,"data":"BBBB" }');
    pair.phoneSocket.socket.send('{"type":"frame","seq":3,"data":"CCCC"}');
    await pair.browser.until(() => pair.browser.all("frame").length === 3, "the three frames");
    expect(pair.browser.raw.filter((text) => text.includes('"frame"'))).toEqual([
      '{"type":"frame","seq":1,"data":"AAAA"}',
      '{"type":"frame","seq":2,"data":"BBBB"}',
      '{"type":"frame","seq":3,"data":"CCCC"}',
    ]);
  });

  it("closes a socket that sends an oversized or malformed frame", async () => {
    const pair = await linkedPair();
    pair.phoneSocket.send({ type: "frame", seq: 1, data: "A".repeat(LIMITS.relayMessageBytes) });
    expect((await pair.phoneSocket.waitForClose()).code).toBe(CLOSE_CODES.message_too_large);
    pair.browser.send({ type: "frame", seq: 0, data: "not base64url!" });
    expect((await pair.browser.waitForClose()).code).toBe(CLOSE_CODES.bad_message);
  });
});

describe("resuming a browser", () => {
  it("refuses a wrong device key and a signature made for another challenge", async () => {
    const pair = await linkedPair();
    const sessionId = pair.browser.sessionId;
    const stranger = await generateIdentityKeyPair(false);
    const wrong = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    const { nonce } = await wrong.waitFor("challenge");
    wrong.send({ type: "resume", signature: await signResume(stranger.privateKey, sessionId, nonce) });
    expect((await wrong.waitForClose()).code).toBe(CLOSE_CODES.resume_refused);

    // A signature captured from an earlier resume is useless: every connection gets a fresh nonce.
    const replay = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    await replay.waitFor("challenge");
    replay.send({ type: "resume", signature: await signResume(pair.deviceKey.privateKey, sessionId, nonce) });
    expect((await replay.waitForClose()).code).toBe(CLOSE_CODES.resume_refused);
    expect(replay.all("ready")).toHaveLength(0);
  });

  it("gives nothing to a socket that has not answered the challenge", async () => {
    const pair = await linkedPair();
    const waiting = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    await waiting.waitFor("challenge");
    const phone = endpoint(pair.phoneSocket, pair.browser.sessionId, "to_browser", pair.phoneKeys);
    await phone.channel.send("private");
    await pair.phoneSocket.waitFor("stored");
    waiting.send({ type: "frame", seq: 1, data: "AAAA" });
    expect(await waiting.waitFor("error")).toMatchObject({ code: "not_ready" });
    expect(waiting.all("frame")).toHaveLength(0);
  });

  it("forwards each frame to the sockets there at the time, as they join, answer their challenge and leave", async () => {
    const pair = await linkedPair();
    pair.phoneSocket.send({ type: "frame", seq: 1, data: "AAAA" });
    await pair.browser.until(() => pair.browser.all("frame").length === 1, "frame 1 at the first tab");
    // A resume waiting on its challenge is sent no frame; once it answers, it replaces the first tab and is sent all of them.
    const reloaded = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    const { nonce } = await reloaded.waitFor("challenge");
    pair.phoneSocket.send({ type: "frame", seq: 2, data: "BBBB" });
    await pair.browser.until(() => pair.browser.all("frame").length === 2, "frame 2 at the first tab");
    expect(reloaded.all("frame")).toHaveLength(0);
    reloaded.send({ type: "resume", signature: await signResume(pair.deviceKey.privateKey, pair.browser.sessionId, nonce) });
    await reloaded.waitFor("ready");
    expect(await pair.browser.waitForClose()).toMatchObject({ code: CLOSE_CODES.replaced });
    pair.phoneSocket.send({ type: "frame", seq: 3, data: "CCCC" });
    await reloaded.until(() => reloaded.all("frame").length === 3, "frames 1 to 3 at the reloaded tab");
    expect(reloaded.all("frame").map((frame) => frame.seq)).toEqual([1, 2, 3]);
    expect(pair.browser.all("frame")).toHaveLength(2);

    // The phone leaves: the browser is told, and a presence check counts no phone.
    pair.phoneSocket.socket.close(1000, "away");
    await reloaded.until(() => reloaded.all("presence").some((presence) => presence.phone === "offline"), "the phone shown offline");
    const told = reloaded.all("presence").length;
    reloaded.send({ type: "presence_check" });
    expect(await reloaded.waitFor("presence", told + 1)).toEqual({ type: "presence", phone: "offline" });
    // It comes back on a new socket: the browser's frame goes there.
    const phoneAgain = await openPhoneSocket(pair.phone, pair.browser);
    await phoneAgain.waitFor("ready");
    reloaded.send({ type: "frame", seq: 1, data: "DDDD" });
    expect(await phoneAgain.waitFor("frame")).toEqual({ type: "frame", seq: 1, data: "DDDD" });
  });

  it("keeps the owners' slots: unanswered resumes push out the oldest of their own, never the phone or the browser", async () => {
    const pair = await linkedPair();
    const strangers: TestSocket[] = [];
    for (let i = 0; i < 10; i++) {
      const socket = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
      await socket.waitFor("challenge");
      strangers.push(socket);
    }
    const kept = LIMITS.unansweredResumesPerSession;
    for (const pushedOut of strangers.slice(0, -kept)) expect((await pushedOut.waitForClose()).code).toBe(CLOSE_CODES.too_many_sockets);
    expect(strangers.slice(-kept).map((socket) => socket.closed)).toEqual(Array(kept).fill(null));
    expect([pair.browser.closed, pair.phoneSocket.closed]).toEqual([null, null]);

    // The owners still get in: the phone reconnects, and the real browser resumes with its device key.
    const phoneAgain = await openPhoneSocket(pair.phone, pair.browser);
    expect(await phoneAgain.waitFor("ready")).toMatchObject({ type: "ready" });
    const reloaded = await resumeBrowser(pair.browser, pair.deviceKey);
    expect(await reloaded.waitFor("ready")).toMatchObject({ type: "ready" });
  });

  it("closes a resume for a session that is not linked with a clear code, and refuses other origins", async () => {
    const socket = await TestSocket.connect(`/api/sessions/${"A".repeat(22)}/browser`, { origin: ORIGIN });
    expect((await socket.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
    const crossOrigin = await workerFetch(`/api/sessions/${"A".repeat(22)}/browser`, { headers: { upgrade: "websocket", origin: "https://evil.example" } });
    expect(crossOrigin.status).toBe(403);
    expect(await errorCode(crossOrigin)).toBe("forbidden_origin");
  });
});

describe("phone presence and logging out", () => {
  it("shows the phone offline to a watching browser after 15 s of silence, and online again when it returns", async () => {
    const start = clock.start();
    const pair = await linkedPair();
    expect(pair.browser.all("presence")).toEqual([{ type: "presence", phone: "online" }]);
    expect(pair.browser.all("ready").at(-1)).toMatchObject({ presenceCheckMs: Number(env.PHONE_OFFLINE_MS) });
    clock.set(start + 14_000);
    pair.browser.send({ type: "presence_check" });
    expect(await pair.browser.waitFor("presence", 2)).toEqual({ type: "presence", phone: "online" });
    clock.set(start + 15_001);
    pair.browser.send({ type: "presence_check" });
    expect(await pair.browser.waitFor("presence", 3)).toEqual({ type: "presence", phone: "offline" });
    expect(pair.browser.all("presence")).toHaveLength(3);
    expect((await pair.phoneSocket.waitForClose()).code).toBe(CLOSE_CODES.heartbeat_timeout);

    await openPhoneSocket(pair.phone, pair.browser);
    expect(await pair.browser.waitFor("presence", 4)).toEqual({ type: "presence", phone: "online" });
  });

  it("accepts a phone page's relay signed in the subprotocol list, and answers with ours", async () => {
    const pair = await linkedPair();
    const { url, protocols } = await pair.phone.relaySocket(pair.browser);
    const response = await workerFetch(new URL(url).pathname, { headers: { upgrade: "websocket", "sec-websocket-protocol": protocols.join(", ") } });
    expect(response.status).toBe(101);
    expect(response.headers.get("sec-websocket-protocol")).toBe(RELAY_SUBPROTOCOL);
    const socket = new TestSocket(response.webSocket!);
    expect(await socket.waitFor("ready")).toMatchObject({ sessionId: pair.browser.sessionId });

    const forged = protocols.map((value) => (value.startsWith("n.") ? "n.15559999999" : value));
    const refused = await workerFetch(new URL(url).pathname, { headers: { upgrade: "websocket", "sec-websocket-protocol": forged.join(", ") } });
    expect(refused.status).toBe(401);
  });

  it("refuses a phone socket from another account", async () => {
    const pair = await linkedPair();
    const other = await registeredPhone("Mallory");
    const socket = await openPhoneSocket(other, pair.browser);
    expect((await socket.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
  });

  it("ends the link for both sides when the browser logs out, and deletes everything", async () => {
    const pair = await linkedPair();
    pair.browser.send({ type: "logout" });
    expect(await pair.browser.waitFor("ended")).toEqual({ type: "ended", reason: "logged_out" });
    expect(await pair.phoneSocket.waitFor("ended")).toEqual({ type: "ended", reason: "logged_out" });
    expect((await pair.phoneSocket.waitForClose()).code).toBe(CLOSE_CODES.logged_out);
    await expect.poll(() => storedTables(pair.browser.stub)).toBe(0);
    const resumed = await TestSocket.connect(resumePath(pair.browser), { origin: ORIGIN });
    expect((await resumed.waitForClose()).code).toBe(CLOSE_CODES.unknown_session);
  });
});
