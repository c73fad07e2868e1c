// What the counted QR Link (bench/peers/qr-link-counted.js) is used for:
// alarms of an idle linked session and of an abandoned code, the requests,
// messages, alarms and rows of one pairing, and the pairing's decomposition
// into primitives timed on the same runtime.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { generateIdentityKeyPair } from "../src/shared/crypto";
import type { Phone } from "../src/clients/phone-core/phone";
import { CLOSE_CODES, HEARTBEAT, MAX_LINKED_DEVICES } from "../src/shared/protocol";
import { linkPair, openBrowser, prepareConfirm, registeredPhones } from "./clients";
import { driveRelay, linkedEnds, percentile, round, sealedFrames, sleep } from "./relay-load";
import { cpuMicros, type Runtime } from "./servers";

interface ClassCounts {
  requests: number;
  byMethod: Record<string, number>;
  /** Rows written by the entry point (method, alarm, webSocketMessage, ...) they were written in. */
  rowsWrittenByEntry: Record<string, number>;
  wsMessagesIn: number;
  wsEvents: number;
  alarms: number;
  setAlarm: number;
  deleteAlarm: number;
  deleteAll: number;
  kvWrites: number;
  rowsWritten: number;
  rowsRead: number;
  commits: number;
}

interface ObjectCounts extends ClassCounts {
  databaseBytes: number;
  alarmTimes: number[];
}

export interface Counters {
  workerRequests: number;
  classes: Record<string, ClassCounts>;
  sessions: Record<string, ObjectCounts | null>;
}

export async function readCounters(runtime: Runtime, sessions: string[] = [], reset = false): Promise<Counters> {
  const query = new URLSearchParams({ sessions: sessions.join(","), ...(reset ? { reset: "1" } : {}) });
  const response = await fetch(`${runtime.url}/__bench/counters?${query}`);
  if (!response.ok) throw new Error(`counters answered ${response.status}`);
  return (await response.json()) as Counters;
}

const NUMERIC: (keyof ClassCounts)[] = ["requests", "wsMessagesIn", "wsEvents", "alarms", "setAlarm", "deleteAlarm", "deleteAll", "kvWrites", "rowsWritten", "rowsRead", "commits"];

function emptyCounts(): ClassCounts {
  return { requests: 0, byMethod: {}, rowsWrittenByEntry: {}, wsMessagesIn: 0, wsEvents: 0, alarms: 0, setAlarm: 0, deleteAlarm: 0, deleteAll: 0, kvWrites: 0, rowsWritten: 0, rowsRead: 0, commits: 0 };
}

/** after − before, per class (QR Link's two classes only, not the probe). */
export function difference(before: Counters, after: Counters): { workerRequests: number; classes: Record<string, ClassCounts> } {
  const classes: Record<string, ClassCounts> = {};
  for (const name of ["PairingSession", "Account"]) {
    const a = after.classes[name] ?? emptyCounts();
    const b = before.classes[name] ?? emptyCounts();
    const diff = emptyCounts();
    for (const key of NUMERIC) (diff[key] as number) = (a[key] as number) - (b[key] as number);
    for (const field of ["byMethod", "rowsWrittenByEntry"] as const) {
      for (const [method, count] of Object.entries(a[field] ?? {})) {
        const delta = count - (b[field]?.[method] ?? 0);
        if (delta) diff[field][method] = delta;
      }
    }
    classes[name] = diff;
  }
  return { workerRequests: after.workerRequests - before.workerRequests, classes };
}

function total(diff: { classes: Record<string, ClassCounts> }, key: keyof ClassCounts): number {
  return Object.values(diff.classes).reduce((sum, counts) => sum + (counts[key] as number), 0);
}

/**
 * The text heartbeat a client sends, every `intervalMs` from now (a client
 * starts counting when its socket opens; a late first one would let a phone
 * go silent before it ever pinged).
 */
function heartbeat(socket: WebSocket, intervalMs: number, phase = intervalMs): () => void {
  let timer: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    socket.send(HEARTBEAT.request);
    timer = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send(HEARTBEAT.request), intervalMs);
  }, phase);
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}

// ---------------------------------------------------------------------------
// An idle linked session: phone and browser sockets open, only heartbeats.

export async function idleLinks(runtime: Runtime, options: { links: number; scale: number; until: Promise<unknown>; minMs: number }) {
  const phones = await registeredPhones(runtime.url, Math.ceil(options.links / MAX_LINKED_DEVICES));
  const heartbeatMs = HEARTBEAT.intervalMs / options.scale;
  const pairs = [];
  const stops: { socket: WebSocket; stop: () => void }[] = [];
  for (let i = 0; i < options.links; i++) {
    const pair = await linkPair(runtime.url, phones[i % phones.length]!);
    pairs.push(pair);
    // Each side pings from the moment its socket is up, as the clients do.
    for (const socket of [pair.phone.release(), pair.browser.release()]) stops.push({ socket, stop: heartbeat(socket, heartbeatMs) });
  }
  const sessions = pairs.map((pair) => pair.sessionId);
  // Let the link's own deadlines settle before counting.
  await sleep(2 * heartbeatMs);
  const before = await readCounters(runtime, sessions);
  const cpuBefore = cpuMicros(runtime.pid);
  const started = performance.now();
  await Promise.all([options.until, sleep(options.minMs)]);
  const elapsedMs = performance.now() - started;
  const after = await readCounters(runtime, sessions);
  const cpuUs = cpuMicros(runtime.pid) - cpuBefore;
  // A socket the server closed (a missed heartbeat) is CLOSING or CLOSED by now.
  const closedDuringWindow = stops.filter(({ socket }) => socket.readyState !== WebSocket.OPEN).length;
  for (const { socket, stop } of stops) {
    stop();
    socket.close();
  }
  const per = sessions.map((id) => {
    const a = after.sessions[id];
    const b = before.sessions[id];
    return {
      alarms: (a?.alarms ?? 0) - (b?.alarms ?? 0),
      setAlarm: (a?.setAlarm ?? 0) - (b?.setAlarm ?? 0),
      rowsWritten: (a?.rowsWritten ?? 0) - (b?.rowsWritten ?? 0),
      requests: (a?.requests ?? 0) - (b?.requests ?? 0),
      wsMessagesIn: (a?.wsMessagesIn ?? 0) - (b?.wsMessagesIn ?? 0),
      databaseBytes: a?.databaseBytes ?? 0,
      gaps: (a?.alarmTimes ?? []).slice(b?.alarmTimes.length ?? 0).flatMap((at, i, all) => (i > 0 ? [at - all[i - 1]!] : [])),
    };
  });
  const mean = (key: "alarms" | "setAlarm" | "rowsWritten" | "requests" | "wsMessagesIn") => per.reduce((sum, row) => sum + row[key], 0) / per.length;
  /** Simulated hours: with the schedule `scale` times shorter, one real hour stands for `scale`. */
  const hours = (elapsedMs * options.scale) / 3_600_000;
  const gaps = per.flatMap((row) => row.gaps).sort((a, b) => a - b);
  const heartbeatsPerHour = (2 * 3_600_000) / HEARTBEAT.intervalMs;
  return {
    links: options.links,
    simulatedSeconds: round(hours * 3600, 0),
    realSeconds: round(elapsedMs / 1000, 1),
    scale: options.scale,
    alarmsPerHour: round(mean("alarms") / hours, 1),
    setAlarmPerHour: round(mean("setAlarm") / hours, 1),
    rowsWrittenPerHour: round(mean("rowsWritten") / hours, 1),
    requestsPerHour: round(mean("requests") / hours, 1),
    wsMessagesInPerHour: round(mean("wsMessagesIn") / hours, 1),
    heartbeatsPerHour,
    alarmGapP50S: round((percentile(gaps, 0.5) * options.scale) / 1000, 1),
    /** workerd CPU over the window (heartbeat answers and alarm runs of these sessions only), per alarm run. */
    workerdCpuMsPerAlarm: round(cpuUs / 1000 / Math.max(1, mean("alarms") * options.links), 2),
    databaseBytes: Math.max(...per.map((row) => row.databaseBytes)),
    /** Sockets the server closed during the window (a missed heartbeat would): 0 when the links stayed up. */
    socketsClosed: closedDuringWindow,
  };
}

// ---------------------------------------------------------------------------
// Abandoned codes: a QR shown until it expires unscanned.

export async function abandonedCodes(runtime: Runtime, options: { sessions: number; scale: number }) {
  const heartbeatMs = HEARTBEAT.intervalMs / options.scale;
  const lifetimeMs = (60_000 + 5 * 20_000) / options.scale;
  const opened = await Promise.all(
    Array.from({ length: options.sessions }, async () => {
      const browser = await openBrowser(runtime.url);
      const socket = browser.socket.release();
      const stop = heartbeat(socket, heartbeatMs, Math.random() * heartbeatMs);
      const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
      return { sessionId: browser.sessionId, closed, stop, socket };
    }),
  );
  const codes = await Promise.all(opened.map(({ closed }) => Promise.race([closed, sleep(lifetimeMs + 15_000).then(() => -1)])));
  for (const { stop, socket } of opened) {
    stop();
    socket.close();
  }
  await sleep(500);
  const counts = await readCounters(runtime, opened.map((row) => row.sessionId));
  const rows = Object.values(counts.sessions).filter((row): row is ObjectCounts => row !== null);
  const mean = (key: keyof ClassCounts) => round(rows.reduce((sum, row) => sum + (row[key] as number), 0) / Math.max(1, rows.length), 2);
  return {
    sessions: options.sessions,
    expired: codes.filter((code) => code === CLOSE_CODES.expired).length,
    requests: mean("requests"),
    alarms: mean("alarms"),
    setAlarm: mean("setAlarm"),
    deleteAll: mean("deleteAll"),
    rowsWritten: mean("rowsWritten"),
    rowsRead: mean("rowsRead"),
  };
}

// ---------------------------------------------------------------------------
// One pairing, counted: browser opens, phone scans, confirms, browser acknowledges.

async function pairOnce(server: string, phone: Phone) {
  const browser = await openBrowser(server);
  const prepared = await prepareConfirm(server, phone, browser);
  const linked = browser.socket.next("linked");
  const response = await prepared.send();
  if (!response.ok) throw new Error(`confirm answered ${response.status}: ${await response.text()}`);
  if (!(await browser.pairing.verifyLinked(browser.sessionId, await linked))) throw new Error("key confirmation failed");
  const device = await generateIdentityKeyPair(false);
  const ready = browser.socket.next("ready");
  browser.socket.send({ type: "link_ack", devicePublicKey: device.publicKey });
  await ready;
  return browser;
}

export async function countedPairings(runtime: Runtime, pairings: number) {
  const phones = await registeredPhones(runtime.url, Math.ceil(pairings / MAX_LINKED_DEVICES));
  await sleep(200);
  const before = await readCounters(runtime);
  const cpuBefore = cpuMicros(runtime.pid);
  const browsers = [];
  for (let i = 0; i < pairings; i++) {
    const browser = await pairOnce(runtime.url, phones[i % phones.length]!);
    browsers.push(browser);
  }
  const cpuUs = cpuMicros(runtime.pid) - cpuBefore;
  await sleep(200);
  const diff = difference(before, await readCounters(runtime));
  for (const browser of browsers) browser.socket.close();
  const per = (value: number) => round(value / pairings, 2);
  return {
    pairings,
    workerRequests: per(diff.workerRequests),
    doRequests: per(total(diff, "requests")),
    doRequestsByMethod: Object.fromEntries(
      Object.entries(diff.classes).flatMap(([cls, counts]) => Object.entries(counts.byMethod).map(([method, count]) => [`${cls}.${method}`, per(count)])),
    ),
    wsMessagesIn: per(total(diff, "wsMessagesIn")),
    alarms: per(total(diff, "alarms")),
    setAlarm: per(total(diff, "setAlarm")),
    deleteAlarm: per(total(diff, "deleteAlarm")),
    rowsWritten: per(total(diff, "rowsWritten")),
    rowsWrittenByClass: Object.fromEntries(Object.entries(diff.classes).map(([cls, counts]) => [cls, per(counts.rowsWritten)])),
    rowsWrittenByEntry: Object.fromEntries(
      Object.entries(diff.classes).flatMap(([cls, counts]) => Object.entries(counts.rowsWrittenByEntry).map(([entry, count]) => [`${cls}.${entry}`, per(count)])),
    ),
    rowsRead: per(total(diff, "rowsRead")),
    /** workerd CPU (Worker and both objects) per pairing, measured while pairings ran one at a time. */
    workerdCpuMs: round(cpuUs / 1000 / pairings, 2),
  };
}

/**
 * A relayed stream, counted: 1 KiB frames from the phone paced at
 * `ratePerSecond`, the browser acknowledging them as RelayChannel does (on
 * the next tick). What the relay writes per frame, and how often it commits.
 */
export async function countedRelay(runtime: Runtime, options: { frames: number; ratePerSecond: number }) {
  const [phone] = await registeredPhones(runtime.url, 1);
  const pair = await linkPair(runtime.url, phone!);
  const frames = await sealedFrames(pair.phoneKeys.send, pair.sessionId, "to_browser", options.frames, 1024);
  const ends = linkedEnds(pair);
  await sleep(200);
  const before = await readCounters(runtime);
  await driveRelay(ends, frames, { ratePerSecond: options.ratePerSecond, serverPid: null, timeoutMs: 60_000 });
  // The write after the last ack, and the `delivered` it is followed by.
  await sleep(300);
  const diff = difference(before, await readCounters(runtime));
  ends.close();
  const per = (value: number) => round(value / options.frames, 3);
  return {
    frames: options.frames,
    ratePerSecond: options.ratePerSecond,
    rowsWrittenPerFrame: per(total(diff, "rowsWritten")),
    commitsPerFrame: per(total(diff, "commits")),
    wsMessagesInPerFrame: per(total(diff, "wsMessagesIn")),
  };
}

// ---------------------------------------------------------------------------
// confirm -> linked, one at a time, and the primitives it is made of.

async function probeOnce(runtime: Runtime, op: string, n: number): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${runtime.url}/__bench/probe?op=${op}&n=${n}`);
  if (!response.ok) throw new Error(`probe ${op} answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
  return performance.now() - started;
}

/** Milliseconds per operation: (time for n − time for 0) / n, median of three; and the empty request's own time. */
async function probe(runtime: Runtime, op: string, n: number): Promise<{ perOp: number; empty: number }> {
  await probeOnce(runtime, op, 10);
  const samples: number[] = [];
  const empties: number[] = [];
  for (let i = 0; i < 3; i++) {
    const empty = await probeOnce(runtime, op, 0);
    empties.push(empty);
    samples.push((await probeOnce(runtime, op, n)) - empty);
  }
  return { perOp: samples.sort((a, b) => a - b)[1]! / n, empty: empties.sort((a, b) => a - b)[1]! };
}

export async function decomposePairing(runtime: Runtime, options: { pairings: number; probeN: number }) {
  const phones = await registeredPhones(runtime.url, Math.ceil(options.pairings / MAX_LINKED_DEVICES));
  const latencies: number[] = [];
  const cpu: number[] = [];
  const diffs: ReturnType<typeof difference>[] = [];
  for (let i = 0; i < options.pairings; i++) {
    const browser = await openBrowser(runtime.url);
    const prepared = await prepareConfirm(runtime.url, phones[i % phones.length]!, browser);
    await sleep(20);
    const before = await readCounters(runtime);
    const linked = browser.socket.next("linked");
    const cpuBefore = cpuMicros(runtime.pid);
    const sentAt = performance.now();
    const response = prepared.send();
    await linked;
    latencies.push(performance.now() - sentAt);
    if (!(await response).ok) throw new Error(`confirm answered ${(await response).status}`);
    cpu.push((cpuMicros(runtime.pid) - cpuBefore) / 1000);
    await sleep(20);
    diffs.push(difference(before, await readCounters(runtime)));
    browser.socket.close();
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const countOf = (pick: (diff: ReturnType<typeof difference>) => number) => median(diffs.map(pick));
  const path = {
    objectCalls: countOf((d) => total(d, "requests")),
    signatureChecks: countOf((d) => d.classes.Account?.byMethod.verify ?? 0),
    commits: countOf((d) => total(d, "commits")),
    rowsWritten: countOf((d) => total(d, "rowsWritten")),
    setAlarm: countOf((d) => total(d, "setAlarm")),
    byMethod: Object.fromEntries(
      Object.entries(diffs[0]?.classes ?? {}).flatMap(([cls, counts]) => Object.entries(counts.byMethod).map(([method, count]) => [`${cls}.${method}`, count])),
    ),
  };
  const noop = await probe(runtime, "noop", options.probeN);
  const primitives = {
    objectCallMs: noop.perOp,
    writeCallMs: (await probe(runtime, "write", options.probeN)).perOp,
    replayCallMs: (await probe(runtime, "replay", options.probeN)).perOp,
    signatureCheckMs: (await probe(runtime, "sig", options.probeN)).perOp,
    /** An HTTP request from this process to the Worker and back that does nothing (Miniflare's entry Worker included). */
    httpRoundTripMs: noop.empty,
  };
  const sorted = [...latencies].sort((a, b) => a - b);
  const measured = percentile(sorted, 0.5);
  const parts = {
    signatureCheckMs: path.signatureChecks * primitives.signatureCheckMs,
    replayRowMs: path.signatureChecks * Math.max(0, primitives.replayCallMs - primitives.objectCallMs),
    objectCallsMs: path.objectCalls * primitives.objectCallMs,
    writesMs: Math.max(0, path.commits - path.signatureChecks) * Math.max(0, primitives.writeCallMs - primitives.objectCallMs),
    httpRoundTripMs: primitives.httpRoundTripMs,
  };
  const explained = Object.values(parts).reduce((sum, value) => sum + value, 0);
  return {
    pairings: options.pairings,
    confirmToLinkedP50Ms: round(measured),
    confirmToLinkedP99Ms: round(percentile(sorted, 0.99)),
    /** workerd CPU from the confirm sent to `linked` received, Worker and objects: the rest is mostly this. */
    workerdCpuMsPerConfirm: round(median(cpu)),
    path,
    primitives: Object.fromEntries(Object.entries(primitives).map(([key, value]) => [key, round(value, 3)])),
    parts: Object.fromEntries(Object.entries(parts).map(([key, value]) => [key, round(value, 3)])),
    restMs: round(measured - explained, 3),
  };
}
