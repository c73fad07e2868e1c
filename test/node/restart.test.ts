// A restart of `wrangler dev` with state on disk: frames held for an absent
// browser survive it in the session object's storage, and a CLI phone left
// online rides it out, retrying until the server is back.
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import WebSocket from "ws";
import { generateIdentityKeyPair, signResume, type IdentityKeyPair } from "../../src/shared/crypto";
import { appMessageSchema, serverMessageSchema, type Presence } from "../../src/shared/protocol";
import { emptyChannelState, RelayChannel, type ChannelKeys, type ChannelState } from "../../src/shared/relay-channel";
import { startDevServer, type DevServer } from "./dev-server";
import { linkByTyping, runPhone, SocketBrowser, spawnPhone } from "./phone-cli";

let server: DevServer | undefined;
let dir: string | undefined;
afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface LinkedBrowser {
  link: { sessionId: string; linkId: string };
  deviceKey: IdentityKeyPair;
  relayKeys: ChannelKeys;
}

/** Registers a phone with `profile`, links a browser to it and registers the browser's device key. */
async function linkBrowser(url: string, number: string, profile: string[]): Promise<LinkedBrowser> {
  expect((await runPhone(["register", "--number", number, "--name", "Carol", "--server", url, ...profile])).code).toBe(0);
  const browser = await SocketBrowser.open(url);
  expect((await linkByTyping([await browser.qrText(), "--once", "--server", url, ...profile], () => browser.shownNumber())).code).toBe(0);
  const linked = await browser.waitFor("linked");
  const keys = await browser.pairing.verifyLinked(browser.sessionId, linked);
  expect(keys).not.toBeNull();
  const deviceKey = await generateIdentityKeyPair(false);
  browser.socket.send(JSON.stringify({ type: "link_ack", devicePublicKey: deviceKey.publicKey }));
  await browser.waitFor("ready");
  browser.close();
  return { link: { sessionId: browser.sessionId, linkId: linked.linkId }, deviceKey, relayKeys: { send: keys!.browserToPhone, receive: keys!.phoneToBrowser } };
}

/** A reloaded browser in Node: resumes at its link id with its device key and runs the real relay channel; `phone` is the presence it was last told. */
async function resume(url: string, { link, deviceKey, relayKeys }: LinkedBrowser, state: ChannelState) {
  const { sessionId, linkId } = link;
  const received: string[] = [];
  const seen = { phone: null as Presence | null };
  const socket = new WebSocket(`${url.replace("http", "ws")}/api/links/${linkId}/browser`, { origin: url });
  const channel = new RelayChannel(sessionId, "to_phone", relayKeys, state, async () => {}, { message: (plaintext) => void received.push(plaintext) });
  socket.on("open", () => channel.attach((message) => socket.send(JSON.stringify(message))));
  socket.on("message", async (data) => {
    const message = serverMessageSchema.parse(JSON.parse(String(data)));
    if (message.type === "ready" || message.type === "presence") seen.phone = message.phone;
    if (message.type === "challenge") socket.send(JSON.stringify({ type: "resume", signature: await signResume(deviceKey.privateKey, sessionId, message.nonce) }));
    else await channel.handle(message);
  });
  await new Promise<void>((resolve) => socket.once("open", () => resolve()));
  return { socket, channel, received, seen };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

it("delivers the frames it held for an absent browser after wrangler dev restarts, in order and once", async () => {
  dir = await mkdtemp(join(tmpdir(), "qr-link-restart-"));
  const stateDir = join(dir, "state");
  server = await startDevServer({ stateDir });
  const profile = ["--profile", join(dir, "carol.json")];
  const linked = await linkBrowser(server.url, "+15550003", profile);

  // The browser asks for a sync and leaves; the phone answers into the buffer.
  const state = emptyChannelState();
  const first = await resume(server.url, linked, state);
  await first.channel.send(JSON.stringify({ kind: "sync_request" }));
  await until(() => state.unstored.length === 0, "the sync request stored");
  first.socket.close();
  const phone = spawnPhone(["online", "--server", server.url, ...profile]);
  await phone.waitForOutput(/sent 21 chats/, 10_000);
  phone.interrupt();
  await phone.done;

  // Restart the server on the same state.
  await server.stop();
  server = await startDevServer({ stateDir });
  const again = await resume(server.url, linked, state);
  await until(() => again.received.length === 23, "23 frames after the restart");
  const kinds = again.received.map((plaintext) => appMessageSchema.parse(JSON.parse(plaintext)).kind);
  // A snapshot: the profile, the chat list, the 20 most recent chats' latest messages, and its end.
  expect(kinds).toEqual(["profile", "chats", ...Array<string>(20).fill("chat"), "synced"]);
  expect(state.received).toBe(23);
  console.log(`restart of wrangler dev: 23 frames held, ${again.received.length} delivered, 0 lost, ${again.received.length - new Set(again.received).size} doubled`);
  again.socket.close();
});

it("keeps a CLI phone retrying while wrangler dev is down, and brings it back online by itself when the server returns", async () => {
  const base = await mkdtemp(join(tmpdir(), "qr-link-phone-restart-"));
  const stateDir = join(base, "state");
  let down: DevServer | undefined = await startDevServer({ stateDir });
  const port = Number(new URL(down.url).port);
  try {
    const profile = ["--profile", join(base, "dana.json")];
    const linked = await linkBrowser(down.url, "+15550006", profile);
    const phone = spawnPhone(["online", "--server", down.url, ...profile]);
    let exited = false;
    void phone.done.then(() => (exited = true));
    await phone.waitForOutput(/\] connected/, 10_000);

    await down.stop();
    down = undefined;
    // Down: the phone keeps trying, with growing waits, and does not die.
    await phone.waitForOutput(/(not connected; retrying in [\d.]+ s[\s\S]*){3}/, 20_000);
    expect(exited).toBe(false);

    const up = await startDevServer({ stateDir, port });
    down = up;
    await phone.waitForOutput(/\] connected[\s\S]*\] connected/, 30_000);
    const browser = await resume(up.url, linked, emptyChannelState());
    await until(() => browser.seen.phone === "online", "the browser to see the phone online");
    browser.socket.close();

    phone.interrupt();
    const result = await phone.done;
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  } finally {
    await down?.stop();
    await rm(base, { recursive: true, force: true });
  }
});

it("stops a phone that another phone took the link from (4409 replaced), so they do not take it from each other for ever", async () => {
  const base = await mkdtemp(join(tmpdir(), "qr-link-replaced-"));
  const up = await startDevServer();
  try {
    const first = ["--profile", join(base, "erin.json")];
    const linked = await linkBrowser(up.url, "+15550007", first);
    // The same phone's profile copied elsewhere: a second phone with the same key and link.
    await copyFile(join(base, "erin.json"), join(base, "erin-copy.json"));
    const older = spawnPhone(["online", "--server", up.url, ...first]);
    await older.waitForOutput(/\] connected/, 10_000);
    const newer = spawnPhone(["online", "--server", up.url, "--profile", join(base, "erin-copy.json")]);
    await newer.waitForOutput(/\] connected/, 10_000);
    // wrangler dev ends the replaced socket's connection some 10 s after its close frame; the close event waits for that.
    await older.waitForOutput(/stopped: Another phone took over this link\./, 30_000);

    // Long enough for several reconnects at the shortest backoff: none comes.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(older.output().match(/\] connected/g)).toHaveLength(1);
    expect(older.output()).not.toMatch(/retrying/);
    expect(newer.output().match(/\] connected/g)).toHaveLength(1);
    expect(newer.output()).not.toMatch(/stopped|retrying/);
    const browser = await resume(up.url, linked, emptyChannelState());
    await until(() => browser.seen.phone === "online", "the browser to see the newer phone online");
    browser.socket.close();

    for (const phone of [older, newer]) phone.interrupt();
    for (const phone of [older, newer]) expect((await phone.done).stderr).toBe("");
  } finally {
    await up.stop();
    await rm(base, { recursive: true, force: true });
  }
});
