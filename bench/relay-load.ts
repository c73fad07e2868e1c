// One client load for every relay: QR Link, the bare Durable Object relay,
// the partyserver room and the Node `ws` floor are driven by the same code
// with the same messages, so what differs is the server's work.
//
// The sender sends pre-sealed frames as QR Link's protocol has them,
// `{"type":"frame","seq":n,"data":"<AES-GCM, base64url>"}`, serialized before
// the clock starts; the receiver acknowledges a burst with one
// `{"type":"ack","seq":n}` (as RelayChannel does, on the next tick). QR Link
// answers the sender `stored` and `delivered`; a peer forwards the ack itself.
// Either way the sender keeps at most WINDOW frames beyond the last one
// acknowledged (QR Link's buffer, which RelayChannel also keeps to).
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { sealFrame } from "../src/shared/crypto";
import { LIMITS } from "../src/shared/protocol";
import { cpuMicros } from "./servers";
import { wsUrl, type LinkedPair } from "./clients";

export const WINDOW = LIMITS.bufferFrames;
const FRAME_PREFIX = '{"type":"frame","seq":';
const ACKED = [/^\{"type":"delivered","seq":(\d+)/, /^\{"type":"ack","seq":(\d+)/];

export interface RelayEnds {
  sender: WebSocket;
  receiver: WebSocket;
  close(): void;
}

export interface RelayRun {
  frames: number;
  msgPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** workerd's (or the floor process's) CPU time over the run, per frame. */
  serverCpuUsPerFrame: number | null;
  /** This process's CPU time over the run (both clients, no crypto), per frame. */
  clientCpuUsPerFrame: number;
  /** Error messages the server sent the sender (buffer_full, rate_limited, ...). */
  errors: number;
}

export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export const round = (value: number, digits = 2) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : value);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** `count` frames of `size` plaintext bytes, sealed for `sessionId` in `direction` with `key`, serialized as the sender sends them. */
export async function sealedFrames(key: CryptoKey, sessionId: string, direction: "to_browser" | "to_phone", count: number, size: number): Promise<string[]> {
  const frames: string[] = [];
  const filler = "x".repeat(size);
  for (let seq = 1; seq <= count; seq++) {
    const plaintext = `${seq}:${filler}`.slice(0, size);
    frames.push(JSON.stringify({ type: "frame", seq, data: await sealFrame(key, sessionId, direction, seq, plaintext) }));
  }
  return frames;
}

export async function randomFrameKey(): Promise<CryptoKey> {
  return crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

function seqOf(buffer: Buffer): number | null {
  const head = buffer.toString("utf8", 0, 48);
  if (head.startsWith(FRAME_PREFIX)) return Number(head.slice(FRAME_PREFIX.length, head.indexOf(",", FRAME_PREFIX.length)));
  if (!head.includes('"frame"')) return null;
  // Not the serialization this file expects: parse it.
  const message = JSON.parse(buffer.toString("utf8")) as { type?: string; seq?: number };
  return message.type === "frame" && typeof message.seq === "number" ? message.seq : null;
}

/**
 * Sends `frames` from sender to receiver: as fast as the window allows
 * (`ratePerSecond` 0), or paced. Latency is from the sender's `send` to the
 * receiver's message event; throughput from the first send to the last
 * arrival. CPU is read from /proc after the last acknowledgement came back.
 */
export async function driveRelay(ends: RelayEnds, frames: string[], options: { ratePerSecond: number; serverPid: number | null; timeoutMs: number }): Promise<RelayRun> {
  const count = frames.length;
  const sentAt = new Float64Array(count + 1);
  const latencies = new Float64Array(count);
  let received = 0;
  let highest = 0;
  let acked = 0;
  let next = 1;
  let errors = 0;
  let ackScheduled = false;
  let lastArrival = 0;
  let allArrived!: () => void;
  let allAcked!: () => void;
  const arrived = new Promise<void>((resolve) => (allArrived = resolve));
  const acknowledged = new Promise<void>((resolve) => (allAcked = resolve));

  const pump = (upTo: number) => {
    while (next <= upTo && next <= count && next <= acked + WINDOW) {
      sentAt[next] = performance.now();
      ends.sender.send(frames[next - 1]!);
      next += 1;
    }
  };

  ends.receiver.on("message", (data: Buffer) => {
    const seq = seqOf(data);
    if (seq === null || seq <= highest) return;
    const now = performance.now();
    highest = seq;
    latencies[received++] = now - sentAt[seq]!;
    lastArrival = now;
    if (!ackScheduled) {
      ackScheduled = true;
      setTimeout(() => {
        ackScheduled = false;
        ends.receiver.send(`{"type":"ack","seq":${highest}}`);
      }, 0);
    }
    if (received === count) allArrived();
  });
  let paced = options.ratePerSecond > 0;
  let pacedUpTo = 0;
  ends.sender.on("message", (data: Buffer) => {
    const head = data.toString("utf8", 0, 48);
    if (head.startsWith('{"type":"error"')) {
      errors += 1;
      return;
    }
    for (const pattern of ACKED) {
      const match = pattern.exec(head);
      if (!match) continue;
      acked = Math.max(acked, Number(match[1]));
      pump(paced ? pacedUpTo : count);
      if (acked >= count) allAcked();
    }
  });

  const cpuBefore = options.serverPid === null ? 0 : cpuMicros(options.serverPid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const timeout = sleep(options.timeoutMs).then(() => {
    throw new Error(`relay run stalled: ${received}/${count} arrived, ${acked} acknowledged, ${errors} errors`);
  });
  if (!paced) pump(count);
  else {
    for (let index = 1; index <= count; index++) {
      const due = started + ((index - 1) * 1_000) / options.ratePerSecond;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      pacedUpTo = index;
      pump(index);
    }
    paced = false;
  }
  await Promise.race([arrived, timeout]);
  await Promise.race([acknowledged, sleep(5_000)]);
  const clientCpu = process.cpuUsage(clientBefore);
  const serverCpu = options.serverPid === null ? null : cpuMicros(options.serverPid) - cpuBefore;
  void timeout.catch(() => undefined);

  const sorted = Array.from(latencies.subarray(0, received)).sort((a, b) => a - b);
  return {
    frames: count,
    msgPerSec: round((count * 1_000) / (lastArrival - started), 0),
    // To the microsecond: a paced frame crosses a relay in a tenth of a millisecond or two.
    p50Ms: round(percentile(sorted, 0.5), 3),
    p99Ms: round(percentile(sorted, 0.99), 3),
    maxMs: round(sorted.at(-1) ?? Number.NaN, 3),
    serverCpuUsPerFrame: serverCpu === null ? null : round(serverCpu / count, 1),
    clientCpuUsPerFrame: round((clientCpu.user + clientCpu.system) / count, 1),
    errors,
  };
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Two sockets in one room of a peer or the floor: `path(role)` is the room's URL path for each side. */
export async function roomEnds(server: string, path: (role: "phone" | "browser") => string): Promise<RelayEnds> {
  const [phone, browser] = await Promise.all([openSocket(wsUrl(server, path("phone"))), openSocket(wsUrl(server, path("browser")))]);
  return {
    sender: phone,
    receiver: browser,
    close: () => {
      phone.close();
      browser.close();
    },
  };
}

/** A linked QR Link session's sockets, phone to browser, taken from their JSON wrappers. */
export function linkedEnds(pair: LinkedPair): RelayEnds {
  const sender = pair.phone.release();
  const receiver = pair.browser.release();
  return {
    sender,
    receiver,
    close: () => {
      sender.close();
      receiver.close();
    },
  };
}

/**
 * Many sessions at once, each flooding its own window: the aggregate rate
 * over all frames, latency over all frames, server CPU per frame.
 */
export async function driveMany(runs: { ends: RelayEnds; frames: string[] }[], serverPid: number, timeoutMs: number) {
  const total = runs.reduce((sum, run) => sum + run.frames.length, 0);
  const latencies: number[] = [];
  let lastArrival = 0;
  let arrivedCount = 0;
  let errors = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const cpuBefore = cpuMicros(serverPid);
  const started = performance.now();
  for (const { ends, frames } of runs) {
    const sentAt = new Float64Array(frames.length + 1);
    let highest = 0;
    let acked = 0;
    let next = 1;
    let ackScheduled = false;
    const pump = () => {
      while (next <= frames.length && next <= acked + WINDOW) {
        sentAt[next] = performance.now();
        ends.sender.send(frames[next - 1]!);
        next += 1;
      }
    };
    ends.receiver.on("message", (data: Buffer) => {
      const seq = seqOf(data);
      if (seq === null || seq <= highest) return;
      const now = performance.now();
      highest = seq;
      latencies.push(now - sentAt[seq]!);
      lastArrival = now;
      arrivedCount += 1;
      if (!ackScheduled) {
        ackScheduled = true;
        setTimeout(() => {
          ackScheduled = false;
          ends.receiver.send(`{"type":"ack","seq":${highest}}`);
        }, 0);
      }
      if (arrivedCount === total) finish();
    });
    ends.sender.on("message", (data: Buffer) => {
      const head = data.toString("utf8", 0, 48);
      if (head.startsWith('{"type":"error"')) errors += 1;
      for (const pattern of ACKED) {
        const match = pattern.exec(head);
        if (match) {
          acked = Math.max(acked, Number(match[1]));
          pump();
        }
      }
    });
    pump();
  }
  await Promise.race([
    finished,
    sleep(timeoutMs).then(() => {
      throw new Error(`aggregate relay stalled at ${arrivedCount}/${total} (${errors} errors)`);
    }),
  ]);
  await sleep(200);
  const serverCpu = cpuMicros(serverPid) - cpuBefore;
  const sorted = latencies.sort((a, b) => a - b);
  return {
    sessions: runs.length,
    frames: total,
    msgPerSec: round((total * 1_000) / (lastArrival - started), 0),
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    workerdCpuUsPerFrame: round(serverCpu / total, 1),
    errors,
  };
}
