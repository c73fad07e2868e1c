// Measurements on this machine alone, beside the servers': the clients'
// crypto per relay frame, and what a durable write costs the local disk.
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { aesGcm, webCryptoAesGcm } from "../src/shared/aes-gcm";
import { openFrame, sealFrame } from "../src/shared/crypto";
import { emptyChannelState, RelayChannel } from "../src/shared/relay-channel";
import type { ClientMessage } from "../src/shared/protocol";
import { percentile, round } from "./relay-load";
import { filesystemOf } from "./servers";

/**
 * Seal and open of a 1 KiB frame: crypto.ts alone (sealFrame / openFrame) and
 * through RelayChannel (send: seal, keep, transmit; receive: open, deliver,
 * acknowledge), one after another, wall time and this process's CPU per frame.
 */
export async function clientCrypto(frames: number, size: number) {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  const sessionId = "AAAAAAAAAAAAAAAAAAAAAA";
  const plaintext = "x".repeat(size);
  const sealed: string[] = [];
  const time = async (work: () => Promise<void>) => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await work();
    const used = process.cpuUsage(cpu);
    return { wallUs: ((performance.now() - started) * 1000) / frames, cpuUs: (used.user + used.system) / frames };
  };
  for (let seq = 1; seq <= 100; seq++) await openFrame(key, sessionId, "to_browser", seq, await sealFrame(key, sessionId, "to_browser", seq, plaintext));
  const seal = await time(async () => {
    for (let seq = 1; seq <= frames; seq++) sealed.push(await sealFrame(key, sessionId, "to_browser", seq, plaintext));
  });
  const open = await time(async () => {
    for (let seq = 1; seq <= frames; seq++) {
      if ((await openFrame(key, sessionId, "to_browser", seq, sealed[seq - 1]!)) === null) throw new Error("a frame did not open");
    }
  });

  const sent: ClientMessage[] = [];
  const sender = new RelayChannel(sessionId, "to_browser", { send: key, receive: key }, emptyChannelState(), async () => {}, { message: () => {} });
  sender.attach((message) => sent.push(message));
  await sender.handle({ type: "ready", sessionId, account: { number: "", name: "" }, received: 0, delivered: 0, phone: "online" });
  const channelSend = await time(async () => {
    for (let i = 0; i < frames; i++) await sender.send(plaintext);
  });
  let delivered = 0;
  const receiver = new RelayChannel(sessionId, "to_phone", { send: key, receive: key }, emptyChannelState(), async () => {}, { message: () => void (delivered += 1) });
  receiver.attach(() => {});
  // Every sealed frame is still in the sender's state (nothing was `stored`); the window let only the first ones out.
  const frameMessages = sender.state.unstored.map(({ seq, data }) => ({ type: "frame" as const, seq, data }));
  const channelReceive = await time(async () => {
    for (const message of frameMessages) await receiver.handle(message);
  });
  if (delivered !== frames) throw new Error(`the channel delivered ${delivered} of ${frames}`);
  const r = (value: number) => round(value, 1);
  return {
    frames,
    frameBytes: size,
    aesGcm: aesGcm === webCryptoAesGcm ? "WebCrypto" : "node:crypto, synchronous",
    sealedChars: frameMessages[0]?.data.length ?? 0,
    sealUsPerFrame: r(seal.wallUs),
    openUsPerFrame: r(open.wallUs),
    sealCpuUsPerFrame: r(seal.cpuUs),
    openCpuUsPerFrame: r(open.cpuUs),
    relayChannelSendUsPerFrame: r(channelSend.wallUs),
    relayChannelReceiveUsPerFrame: r(channelReceive.wallUs),
  };
}

/** A 4 KiB write then fsync, `count` times, in a directory of `root`: microseconds per fsync. */
export function fsyncCost(roots: { name: string; root: string }[], count: number) {
  const page = Buffer.alloc(4096, 7);
  return Object.fromEntries(
    roots.map(({ name, root }) => {
      const dir = mkdtempSync(join(root, "qr-link-bench-fsync-"));
      const fd = openSync(join(dir, "file"), "w");
      const samples: number[] = [];
      try {
        for (let i = 0; i < count; i++) {
          writeSync(fd, page, 0, page.length, (i % 64) * page.length);
          const started = performance.now();
          fsyncSync(fd);
          samples.push((performance.now() - started) * 1000);
        }
      } finally {
        closeSync(fd);
        rmSync(dir, { recursive: true, force: true });
      }
      samples.sort((a, b) => a - b);
      return [name, { path: root, filesystem: filesystemOf(root), fsyncP50Us: round(percentile(samples, 0.5), 1), fsyncP99Us: round(percentile(samples, 0.99), 1), samples: count }];
    }),
  );
}

export const DISK_ROOT = tmpdir();
