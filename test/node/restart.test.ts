// The relay's buffers live in the session object's storage: frames held for
// an absent browser survive a restart of `wrangler dev` with state on disk.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import WebSocket from "ws";
import { generateIdentityKeyPair, signResume, type IdentityKeyPair } from "../../src/shared/crypto";
import { appMessageSchema, serverMessageSchema } from "../../src/shared/protocol";
import { emptyChannelState, RelayChannel, type ChannelKeys, type ChannelState } from "../../src/shared/relay-channel";
import { startDevServer, type DevServer } from "./dev-server";
import { linkByTyping, runPhone, SocketBrowser, spawnPhone } from "./phone-cli";

let server: DevServer | undefined;
let dir: string | undefined;
afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A reloaded browser in Node: resumes at its link id with its device key and runs the real relay channel. */
async function resume(url: string, { sessionId, linkId }: { sessionId: string; linkId: string }, deviceKey: IdentityKeyPair, keys: ChannelKeys, state: ChannelState) {
  const received: string[] = [];
  const socket = new WebSocket(`${url.replace("http", "ws")}/api/links/${linkId}/browser`, { origin: url });
  const channel = new RelayChannel(sessionId, "to_phone", keys, state, async () => {}, { message: (plaintext) => void received.push(plaintext) });
  socket.on("open", () => channel.attach((message) => socket.send(JSON.stringify(message))));
  socket.on("message", async (data) => {
    const message = serverMessageSchema.parse(JSON.parse(String(data)));
    if (message.type === "challenge") socket.send(JSON.stringify({ type: "resume", signature: await signResume(deviceKey.privateKey, sessionId, message.nonce) }));
    else await channel.handle(message);
  });
  await new Promise<void>((resolve) => socket.once("open", () => resolve()));
  return { socket, channel, received };
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
  expect((await runPhone(["register", "--number", "+15550003", "--name", "Carol", "--server", server.url, ...profile])).code).toBe(0);

  // Link a browser and register its device key.
  const browser = await SocketBrowser.open(server.url);
  expect((await linkByTyping([await browser.qrText(), "--once", "--server", server.url, ...profile], () => browser.shownNumber())).code).toBe(0);
  const linked = await browser.waitFor("linked");
  const link = { sessionId: browser.sessionId, linkId: linked.linkId };
  const keys = await browser.pairing.verifyLinked(browser.sessionId, linked);
  expect(keys).not.toBeNull();
  const relayKeys = { send: keys!.browserToPhone, receive: keys!.phoneToBrowser };
  const deviceKey = await generateIdentityKeyPair(false);
  browser.socket.send(JSON.stringify({ type: "link_ack", devicePublicKey: deviceKey.publicKey }));
  await browser.waitFor("ready");
  browser.close();

  // The browser asks for a sync and leaves; the phone answers into the buffer.
  const state = emptyChannelState();
  const first = await resume(server.url, link, deviceKey, relayKeys, state);
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
  const again = await resume(server.url, link, deviceKey, relayKeys, state);
  await until(() => again.received.length === 23, "23 frames after the restart");
  const kinds = again.received.map((plaintext) => appMessageSchema.parse(JSON.parse(plaintext)).kind);
  expect(kinds).toEqual(["profile", ...Array<string>(21).fill("chat"), "synced"]);
  expect(state.received).toBe(23);
  console.log(`restart of wrangler dev: 23 frames held, ${again.received.length} delivered, 0 lost, ${again.received.length - new Set(again.received).size} doubled`);
  again.socket.close();
});
