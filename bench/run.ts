// `npm run bench [-- --quick]`: a bounded load harness on 127.0.0.1. It
// starts QR Link and its peers in workerd through the Miniflare API (one
// workerd process each, bundled by wrangler), the Node `ws` floor in a child
// process, runs the workloads, and writes bench/results/<time>.json and
// bench/README.md. It stops by itself (and exits if it overruns its limit).
// `npm run bench -- --relay [--quick]` runs only the relay comparison (QR Link
// on tmpfs and the two peers) and prints it, writing nothing.
import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { MAX_LINKED_DEVICES } from "../src/shared/protocol";
import { linkPair, registeredPhones } from "./clients";
import { abandonedCodes, countedPairings, countedRelay, decomposePairing, idleLinks } from "./counted";
import { costPerLinkedDeviceDay, costPerMillionFrames, costPerMillionPairings, PRICES } from "./cost";
import { historyAtScale } from "./history";
import { clientCrypto, DISK_ROOT, fsyncCost } from "./micro";
import { photoTransfer } from "./media";
import { pairingAtRate } from "./pairing";
import { pendingSessions } from "./pending";
import { driveMany, driveRelay, linkedEnds, randomFrameKey, roomEnds, round, sealedFrames, sleep, WINDOW, type RelayEnds, type RelayRun } from "./relay-load";
import { readme } from "./report";
import {
  APP_OBJECTS,
  appBindings,
  bundle,
  filesystemOf,
  peerConfig,
  raiseOpenFilesLimit,
  removeBundle,
  startFloor,
  startRuntime,
  type Floor,
  type Runtime,
  type RuntimeOptions,
} from "./servers";

const quick = process.argv.includes("--quick");
const relayOnly = process.argv.includes("--relay");

const PLANS = {
  quick: {
    relay: { frames: 300, size: 1024, reps: 3, pacedRate: 1_000 },
    aggregate: { sessions: 20, frames: 25 },
    pairing: { rate: 100, seconds: 1, disk: false },
    counted: { pairings: 4, decomposition: 4, probeN: 100, relayFrames: 200, relayRate: 500 },
    pending: { levels: [100, 250], rampMs: 2_000, observeMs: 3_000, scale: 20, latenessLimitMs: 1_000 },
    idle: { links: 2, minMs: 6_000, scale: 10 },
    abandoned: { sessions: 8, scale: 20 },
    crypto: { frames: 500 },
    media: { reps: 3, sizesMiB: [1, 10, 50] },
    fsync: 50,
    history: { history: "large" as const, links: 1, openChats: 3, scrollBacks: 1, catchUps: 1, changes: 1_000 },
    limitMs: 100_000,
  },
  full: {
    relay: { frames: 2_000, size: 1024, reps: 5, pacedRate: 500 },
    aggregate: { sessions: 100, frames: 100 },
    pairing: { rate: 100, seconds: 5, disk: true },
    counted: { pairings: 20, decomposition: 20, probeN: 300, relayFrames: 1_000, relayRate: 500 },
    pending: { levels: [1_000, 5_000, 10_000], rampMs: 60_000, observeMs: 20_000, scale: 1, latenessLimitMs: 1_000 },
    idle: { links: 4, minMs: 120_000, scale: 1 },
    abandoned: { sessions: 20, scale: 1 },
    crypto: { frames: 2_000 },
    media: { reps: 5, sizesMiB: [1, 10, 50, 100] },
    fsync: 200,
    history: { history: "large" as const, links: 3, openChats: 10, scrollBacks: 3, catchUps: 3, changes: 1_000 },
    limitMs: 840_000,
  },
};
const PLAN = quick ? PLANS.quick : PLANS.full;

/** The token, confirmation and socket timings of wrangler.toml, made `scale` times shorter (1: unchanged). */
function scaledSchedule(scale: number): Record<string, string> {
  if (scale === 1) return {};
  const real = { TOKEN_FIRST_TTL_MS: 60_000, TOKEN_TTL_MS: 20_000, TOKEN_GRACE_MS: 5_000, CONFIRM_TIMEOUT_MS: 60_000, PHONE_OFFLINE_MS: 15_000, SOCKET_IDLE_MS: 60_000, CHALLENGE_TIMEOUT_MS: 10_000 };
  return Object.fromEntries(Object.entries(real).map(([name, ms]) => [name, String(ms / scale)]));
}

const began = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(1)} s] ${line}`);
const median = (values: number[]) => {
  const sorted = values.filter((value) => value !== null && Number.isFinite(value)).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)]! : Number.NaN;
};

// ---------------------------------------------------------------------------
// The relay comparison: the same client load on every server, repetitions interleaved.

interface RelaySystem {
  key: string;
  label: string;
  pid: number;
  /** A fresh session or room, and the frames to send on it. */
  open(run: number): Promise<{ ends: RelayEnds; frames: string[] }>;
}

interface RelaySummary {
  msgPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** workerd's CPU per frame (the workerd servers), or the floor process's (serverCpuUsPerFrame). */
  workerdCpuUsPerFrame?: number;
  serverCpuUsPerFrame?: number;
  [more: string]: unknown;
}

function summarize(system: RelaySystem, floods: RelayRun[], paced: RelayRun[], workerd: boolean): RelaySummary {
  const cpu = median(floods.map((run) => run.serverCpuUsPerFrame ?? Number.NaN));
  return {
    msgPerSec: median(floods.map((run) => run.msgPerSec)),
    p50Ms: median(paced.map((run) => run.p50Ms)),
    p99Ms: median(paced.map((run) => run.p99Ms)),
    ...(workerd ? { workerdCpuUsPerFrame: cpu } : { serverCpuUsPerFrame: cpu }),
    floodP50Ms: median(floods.map((run) => run.p50Ms)),
    floodP99Ms: median(floods.map((run) => run.p99Ms)),
    clientCpuUsPerFrame: median(floods.map((run) => run.clientCpuUsPerFrame)),
    errors: [...floods, ...paced].reduce((sum, run) => sum + run.errors, 0),
    runs: { flood: floods.map(({ msgPerSec, serverCpuUsPerFrame, p50Ms, p99Ms }) => ({ msgPerSec, serverCpuUsPerFrame, p50Ms, p99Ms })), paced: paced.map(({ p50Ms, p99Ms }) => ({ p50Ms, p99Ms })) },
    label: system.label,
  };
}

async function qrLinkSystem(key: string, label: string, runtime: Runtime, runs: number): Promise<RelaySystem> {
  const phones = await registeredPhones(runtime.url, Math.ceil(runs / MAX_LINKED_DEVICES));
  return {
    key,
    label,
    pid: runtime.pid,
    async open(run) {
      const pair = await linkPair(runtime.url, phones[Math.floor(run / MAX_LINKED_DEVICES) % phones.length]!);
      const frames = await sealedFrames(pair.phoneKeys.send, pair.sessionId, "to_browser", PLAN.relay.frames, PLAN.relay.size);
      return { ends: linkedEnds(pair), frames };
    },
  };
}

/** Runs each system is opened for: the repetitions, flooded and paced, and one warm-up run. */
const RELAY_RUNS = PLAN.relay.reps * 2 + 1;

async function relayComparison(systems: RelaySystem[]) {
  // One flood each first, not counted: the first repetition would otherwise also time the runtime compiling the server's code.
  for (const system of systems) {
    const { ends, frames } = await system.open(RELAY_RUNS - 1);
    await driveRelay(ends, frames, { ratePerSecond: 0, serverPid: system.pid, timeoutMs: 60_000 });
    ends.close();
  }
  const floods = new Map<string, RelayRun[]>(systems.map((system) => [system.key, []]));
  const paced = new Map<string, RelayRun[]>(systems.map((system) => [system.key, []]));
  for (let rep = 0; rep < PLAN.relay.reps; rep++) {
    for (const system of systems) {
      for (const [mode, into] of [
        ["flood", floods],
        ["paced", paced],
      ] as const) {
        const { ends, frames } = await system.open(rep * 2 + (mode === "flood" ? 0 : 1));
        await sleep(20);
        const result = await driveRelay(ends, frames, { ratePerSecond: mode === "flood" ? 0 : PLAN.relay.pacedRate, serverPid: system.pid, timeoutMs: 60_000 });
        ends.close();
        into.get(system.key)!.push(result);
        if (mode === "flood") log(`relay ${system.key} rep ${rep + 1}: ${result.msgPerSec} msg/s, ${result.serverCpuUsPerFrame} µs server CPU/frame`);
        else log(`relay ${system.key} rep ${rep + 1}: paced ${PLAN.relay.pacedRate}/s p50 ${result.p50Ms} ms p99 ${result.p99Ms} ms`);
        await sleep(20);
      }
    }
  }
  return Object.fromEntries(systems.map((system) => [system.key, summarize(system, floods.get(system.key)!, paced.get(system.key)!, system.key !== "nodeWsFloor")])) as Record<string, RelaySummary>;
}

async function aggregate(runtime: Runtime) {
  const { sessions, frames } = PLAN.aggregate;
  const phones = await registeredPhones(runtime.url, Math.ceil(sessions / MAX_LINKED_DEVICES));
  const pairs = [];
  for (let start = 0; start < sessions; start += 10) {
    pairs.push(...(await Promise.all(Array.from({ length: Math.min(10, sessions - start) }, (_, i) => linkPair(runtime.url, phones[(start + i) % phones.length]!)))));
  }
  const runs = await Promise.all(pairs.map(async (pair) => ({ frames: await sealedFrames(pair.phoneKeys.send, pair.sessionId, "to_browser", frames, PLAN.relay.size), ends: linkedEnds(pair) })));
  await sleep(300);
  const result = await driveMany(runs, runtime.pid, 120_000);
  for (const run of runs) run.ends.close();
  return { ...result, framesPerSession: frames, frameBytes: PLAN.relay.size };
}

/** A peer run: a room of its own on each run, the same pre-sealed frames. */
function peerSystem(key: string, label: string, pid: number, server: string, path: (room: string, role: "phone" | "browser") => string, frames: string[]): RelaySystem {
  let rooms = 0;
  return {
    key,
    label,
    pid,
    open: async () => {
      const room = `${key}-${++rooms}`;
      return { ends: await roomEnds(server, (role) => path(room, role)), frames };
    },
  };
}

/** Ratios of QR Link's figures to a peer's: above 1 is more (throughput) or slower (latency, CPU). */
function ratiosTo(qrLink: RelaySummary, peer: RelaySummary) {
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? round(a / b, 2) : null);
  return {
    msgPerSec: ratio(qrLink.msgPerSec, peer.msgPerSec),
    p50Ms: ratio(qrLink.p50Ms, peer.p50Ms),
    p99Ms: ratio(qrLink.p99Ms, peer.p99Ms),
    workerdCpuUsPerFrame: ratio(qrLink.workerdCpuUsPerFrame, peer.workerdCpuUsPerFrame),
  };
}

/** `--relay`: section 1 alone, QR Link on tmpfs against the two peers, printed. */
async function relaySection(): Promise<void> {
  const loadBefore = loadavg().map((value) => round(value, 2));
  log("bundling QR Link and the two peers with wrangler");
  const peerConfigs = [peerConfig("bare-relay", "bench/peers/bare-relay.js", "BARE_RELAY", "BareRelay"), peerConfig("partyserver-relay", "bench/peers/partyserver-relay.js", "RELAY_ROOM", "RelayRoom")];
  const scripts = await Promise.all([bundle("qr-link"), bundle("bare-relay", { config: peerConfigs[0] }), bundle("partyserver-relay", { config: peerConfigs[1] })]).finally(() =>
    peerConfigs.forEach(removeBundle),
  );
  const runtimes: Runtime[] = [];
  try {
    const servers: RuntimeOptions[] = [
      { name: "qr-link", scriptPath: scripts[0]!, durableObjects: APP_OBJECTS, bindings: appBindings({}), liftRateLimits: true, medium: "tmpfs" },
      { name: "bare-relay", scriptPath: scripts[1]!, durableObjects: { BARE_RELAY: { className: "BareRelay", useSQLite: true } }, medium: "tmpfs" },
      { name: "partyserver-relay", scriptPath: scripts[2]!, durableObjects: { RELAY_ROOM: { className: "RelayRoom", useSQLite: true } }, medium: "tmpfs" },
    ];
    for (const options of servers) {
      // One after another: each workerd process is told apart by being the new one.
      runtimes.push(await startRuntime(options));
    }
    const [app, bare, party] = runtimes as [Runtime, Runtime, Runtime];
    const peerFrames = await sealedFrames(await randomFrameKey(), "AAAAAAAAAAAAAAAAAAAAAA", "to_browser", PLAN.relay.frames, PLAN.relay.size);
    const relay = await relayComparison([
      await qrLinkSystem("qrLink", "QR Link (databases on tmpfs)", app, RELAY_RUNS),
      peerSystem("bareDurableObject", "bare hibernatable DO relay", bare.pid, bare.url, (room, role) => `/relay/${room}?role=${role}`, peerFrames),
      peerSystem("partyserver", "partyserver room", party.pid, party.url, (room) => `/parties/relay-room/${room}`, peerFrames),
    ]);
    const loadAfter = loadavg().map((value) => round(value, 2));
    const { qrLink, bareDurableObject, partyserver } = relay as Record<"qrLink" | "bareDurableObject" | "partyserver", RelaySummary>;
    for (const [key, summary] of Object.entries(relay)) {
      const { msgPerSec, p50Ms, p99Ms, workerdCpuUsPerFrame, runs } = summary;
      console.log(JSON.stringify({ key, msgPerSec, p50Ms, p99Ms, workerdCpuUsPerFrame, runs }));
    }
    console.log(JSON.stringify({ qrLinkOverBareDurableObject: ratiosTo(qrLink, bareDurableObject), qrLinkOverPartyserver: ratiosTo(qrLink, partyserver) }));
    console.log(JSON.stringify({ plan: PLAN.relay, loadAverage: { before: loadBefore, after: loadAfter } }));
  } finally {
    await Promise.all(runtimes.map((runtime) => runtime.stop()));
    scripts.forEach(removeBundle);
  }
}

// ---------------------------------------------------------------------------

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const openFiles = raiseOpenFilesLimit();
  const loadBefore = loadavg().map((value) => round(value, 2));
  const hardStop = setTimeout(() => {
    console.error(`bench: over its time limit (${PLAN.limitMs / 1000} s), stopping`);
    process.exit(1);
  }, PLAN.limitMs);

  log("bundling QR Link, QR Link with counters and the two peers with wrangler");
  const peerConfigs = [peerConfig("bare-relay", "bench/peers/bare-relay.js", "BARE_RELAY", "BareRelay"), peerConfig("partyserver-relay", "bench/peers/partyserver-relay.js", "RELAY_ROOM", "RelayRoom")];
  const scripts = await Promise.all([
    bundle("qr-link"),
    bundle("qr-link-counted", { entry: "bench/peers/qr-link-counted.js" }),
    bundle("bare-relay", { config: peerConfigs[0] }),
    bundle("partyserver-relay", { config: peerConfigs[1] }),
  ]).finally(() => peerConfigs.forEach(removeBundle));
  const [appScript, countedScript, bareScript, partyScript] = scripts;
  const countedObjects = { ...APP_OBJECTS, BENCH_PROBE: { className: "BenchProbe", useSQLite: true } } as const;
  const runtimes: Runtime[] = [];
  let floor: Floor | null = null;
  const start = async (options: Parameters<typeof startRuntime>[0]) => {
    const runtime = await startRuntime(options);
    runtimes.push(runtime);
    return runtime;
  };
  try {
    // One after another: each workerd process is told apart by being the new one.
    // The pending app's log is kept: when a level cannot be opened, workerd says why.
    const pendingErrors: string[] = [];
    const pendingApp = await start({
      name: "qr-link-pending",
      scriptPath: appScript!,
      durableObjects: APP_OBJECTS,
      bindings: appBindings(scaledSchedule(PLAN.pending.scale)),
      liftRateLimits: true,
      medium: "tmpfs",
      onLog: (line) => {
        process.stderr.write(`${line}\n`);
        if (/error|fail/i.test(line) && pendingErrors.length < 5) pendingErrors.push(line.replace(/^\S+:\d+: /, "").slice(0, 240));
      },
    });
    const counted = await start({ name: "qr-link-counted", scriptPath: countedScript!, durableObjects: countedObjects, bindings: appBindings(scaledSchedule(PLAN.idle.scale)), liftRateLimits: true, medium: "tmpfs" });
    const countedDisk = await start({ name: "qr-link-counted-disk", scriptPath: countedScript!, durableObjects: countedObjects, bindings: appBindings(scaledSchedule(PLAN.abandoned.scale)), liftRateLimits: true, medium: "disk" });
    const app = await start({ name: "qr-link", scriptPath: appScript!, durableObjects: APP_OBJECTS, bindings: appBindings({}), liftRateLimits: true, medium: "tmpfs" });
    const appDisk = await start({ name: "qr-link-disk", scriptPath: appScript!, durableObjects: APP_OBJECTS, bindings: appBindings({}), liftRateLimits: true, medium: "disk" });
    const bare = await start({ name: "bare-relay", scriptPath: bareScript!, durableObjects: { BARE_RELAY: { className: "BareRelay", useSQLite: true } }, medium: "tmpfs" });
    const party = await start({ name: "partyserver-relay", scriptPath: partyScript!, durableObjects: { RELAY_ROOM: { className: "RelayRoom", useSQLite: true } }, medium: "tmpfs" });
    floor = await startFloor();
    for (const runtime of runtimes) log(`${runtime.name}: ${runtime.url}, workerd pid ${runtime.pid}, databases in ${runtime.persist.dir} (${runtime.persist.medium})`);
    log(`nodeWsFloor: ${floor.url}, pid ${floor.pid}`);

    // 1. Pending sessions, and meanwhile (on the counted app, another process) idle links and abandoned codes.
    const scale = PLAN.pending.scale;
    log(`pending sessions, levels ${PLAN.pending.levels.join(", ")} (schedule ${scale === 1 ? "real" : `${scale}× faster`}); idle links and abandoned codes alongside`);
    let pendingDone!: () => void;
    const pendingFinished = new Promise<void>((resolve) => (pendingDone = resolve));
    const [pending, idle, abandoned] = await Promise.all([
      pendingSessions(pendingApp, PLAN.pending, log)
        .then((result) => ({ ...result, workerdErrors: pendingErrors }))
        .finally(() => pendingDone()),
      idleLinks(counted, { links: PLAN.idle.links, scale: PLAN.idle.scale, until: pendingFinished, minMs: PLAN.idle.minMs }),
      abandonedCodes(countedDisk, { sessions: PLAN.abandoned.sessions, scale: PLAN.abandoned.scale }),
    ]);
    log(`idle link: ${idle.alarmsPerHour} alarms/hour (${idle.simulatedSeconds} s simulated); abandoned code: ${abandoned.alarms} alarms, ${abandoned.rowsWritten} rows`);
    await pendingApp.stop();
    runtimes.splice(runtimes.indexOf(pendingApp), 1);

    // 2. Client crypto, on this process alone.
    const crypto = await clientCrypto(PLAN.crypto.frames, PLAN.relay.size);
    log(`client crypto: seal ${crypto.sealUsPerFrame} µs, open ${crypto.openUsPerFrame} µs per ${PLAN.relay.size} B frame`);

    // 2b. Photos and files through the Worker and R2, on a QR Link of their own.
    const mediaApp = await start({ name: "qr-link-media", scriptPath: appScript!, durableObjects: APP_OBJECTS, bindings: appBindings({}), liftRateLimits: true, medium: "tmpfs" });
    const media = await photoTransfer(mediaApp, PLAN.media);
    log(`media: ${media.photoMiB} MiB photo browser to phone in ${media.totalMs} ms (up ${media.uploadMs}, down ${media.downloadMs})`);
    await mediaApp.stop();
    runtimes.splice(runtimes.indexOf(mediaApp), 1);

    // 3. The relay, side by side.
    const peerKey = await randomFrameKey();
    const peerFrames = await sealedFrames(peerKey, "AAAAAAAAAAAAAAAAAAAAAA", "to_browser", PLAN.relay.frames, PLAN.relay.size);
    const systems: RelaySystem[] = [
      await qrLinkSystem("qrLink", "QR Link (databases on tmpfs)", app, RELAY_RUNS),
      await qrLinkSystem("qrLinkDisk", "QR Link (databases on disk)", appDisk, RELAY_RUNS),
      peerSystem("bareDurableObject", "bare hibernatable DO relay", bare.pid, bare.url, (room, role) => `/relay/${room}?role=${role}`, peerFrames),
      peerSystem("partyserver", "partyserver room", party.pid, party.url, (room) => `/parties/relay-room/${room}`, peerFrames),
      peerSystem("nodeWsFloor", "Node ws relay (floor)", floor.pid, floor.url, (room, role) => `/relay?room=${room}&role=${role}`, peerFrames),
    ];
    const relay = await relayComparison(systems);
    const aggregated = await aggregate(app);
    log(`relay over ${aggregated.sessions} sessions: ${aggregated.msgPerSec} msg/s, ${aggregated.workerdCpuUsPerFrame} µs workerd CPU/frame`);

    // 4. Pairing at 100/s, then counted pairings and the decomposition.
    const pairing = await pairingAtRate(app, PLAN.pairing.rate, PLAN.pairing.seconds);
    log(`pairing at ${pairing.rate}/s: p50 ${pairing.p50Ms} ms p99 ${pairing.p99Ms} ms (${pairing.failures} failed)`);
    const pairingDisk = PLAN.pairing.disk ? await pairingAtRate(appDisk, PLAN.pairing.rate, PLAN.pairing.seconds) : null;
    if (pairingDisk) log(`pairing at ${pairingDisk.rate}/s, databases on disk: p50 ${pairingDisk.p50Ms} ms p99 ${pairingDisk.p99Ms} ms`);
    const pairingCounts = await countedPairings(counted, PLAN.counted.pairings);
    const relayCounts = await countedRelay(counted, { frames: PLAN.counted.relayFrames, ratePerSecond: PLAN.counted.relayRate });
    log(`relayed frames, counted: ${relayCounts.rowsWrittenPerFrame} rows written and ${relayCounts.commitsPerFrame} commits per frame`);
    const decomposition = await decomposePairing(counted, { pairings: PLAN.counted.decomposition, probeN: PLAN.counted.probeN });
    const decompositionDisk = await decomposePairing(countedDisk, { pairings: PLAN.counted.decomposition, probeN: PLAN.counted.probeN });
    log(`confirm -> linked, one at a time: ${decomposition.confirmToLinkedP50Ms} ms on tmpfs, ${decompositionDisk.confirmToLinkedP50Ms} ms on disk`);

    // History at scale (issue 15): the large phone and the real page in Chromium, on a runtime of its own that serves the pages.
    const historyApp = await start({ name: "qr-link-history", scriptPath: appScript!, durableObjects: APP_OBJECTS, bindings: appBindings({}), liftRateLimits: true, medium: "tmpfs", assets: true });
    const history = await historyAtScale(historyApp, PLAN.history, log);
    await historyApp.stop();
    runtimes.splice(runtimes.indexOf(historyApp), 1);

    // 5. What a durable write costs this machine's disk.
    const fsync = fsyncCost(
      [
        { name: "tmpfs", root: "/dev/shm" },
        { name: "disk", root: DISK_ROOT },
      ],
      PLAN.fsync,
    );

    const perMillionPairings = costPerMillionPairings(pairingCounts);
    const perLinkedDeviceDay = costPerLinkedDeviceDay(idle);
    const perMillionFrames = costPerMillionFrames(relayCounts);
    const perMillionAbandonedCodes = costPerMillionPairings({ workerRequests: 1, doRequests: abandoned.requests, wsMessagesIn: 0, alarms: abandoned.alarms, setAlarm: abandoned.setAlarm, rowsWritten: abandoned.rowsWritten, rowsRead: abandoned.rowsRead, workerdCpuMs: 0 });
    const loadAfter = loadavg().map((value) => round(value, 2));

    const result = {
      when: new Date().toISOString(),
      mode: quick ? "quick" : "full",
      machine: {
        cores: cpus().length,
        cpu: cpus()[0]?.model ?? "unknown",
        memoryGiB: round(totalmem() / 2 ** 30, 1),
        node: process.version,
        workerd: versionOf("workerd"),
        miniflare: versionOf("miniflare"),
        wrangler: versionOf("wrangler"),
        partyserver: versionOf("partyserver"),
        openFiles,
        loadAverage: { before: loadBefore, after: loadAfter },
        shared: "2 cores shared with other engineers' test runs: compare figures of one run (ratios), not absolute numbers across runs",
      },
      // BENCH_SOURCE names the source when the bench runs on a copy outside the repository (e.g. "e587a63, exported").
      source: process.env.BENCH_SOURCE
        ? { commit: process.env.BENCH_SOURCE, uncommitted: 0 }
        : { commit: git(["rev-parse", "--short", "HEAD"]), uncommitted: git(["status", "--porcelain", "--", "src", "wrangler.toml"]).split("\n").filter(Boolean).length },
      storage: {
        tmpfs: { path: app.persist.dir.replace(/[^/]+$/, ""), filesystem: filesystemOf(app.persist.dir), used: "QR Link (relay, pairing, pending, counted), the peers" },
        disk: { path: appDisk.persist.dir.replace(/[^/]+$/, ""), filesystem: filesystemOf(appDisk.persist.dir), used: "QR Link on disk (relay, pairing), counted on disk (abandoned codes, decomposition)" },
        fsync,
      },
      relay: {
        method:
          `one session (room), ${PLAN.relay.frames} frames of ${PLAN.relay.size} B plaintext, pre-sealed (AES-GCM, base64url, ${peerFrames[0]!.length} B messages), phone to browser; ` +
          `throughput and CPU flooding a window of ${WINDOW} unacknowledged frames; latency paced at ${PLAN.relay.pacedRate}/s; after one uncounted warm-up flood per server, ${PLAN.relay.reps} repetitions interleaved, medians`,
        qrLink: relay.qrLink,
        qrLinkDisk: relay.qrLinkDisk,
        peers: { bareDurableObject: relay.bareDurableObject, partyserver: relay.partyserver },
        nodeWsFloor: relay.nodeWsFloor,
        ratios: { qrLinkOverBareDurableObject: ratiosTo(relay.qrLink!, relay.bareDurableObject!), qrLinkOverPartyserver: ratiosTo(relay.qrLink!, relay.partyserver!) },
        qrLink100Sessions: aggregated,
      },
      clientCrypto: crypto,
      history,
      media,
      idleLink: {
        ...idle,
        method:
          "linked sessions whose phone and browser sockets send only the text heartbeat; the counted app counts each alarm() invocation per object " +
          "(a wrapper class in bench/peers/qr-link-counted.js), read before and after the window" +
          (PLAN.idle.scale === 1 ? "; real schedule" : `; every interval ${PLAN.idle.scale}× shorter, counts scaled back to real hours`),
      },
      abandonedCode: abandoned,
      pending,
      pairing: {
        p99MsAt100: pairing.p99Ms,
        p50MsAt100: pairing.p50Ms,
        at100: pairing,
        diskAt100: pairingDisk,
        decomposition: { tmpfs: decomposition, disk: decompositionDisk },
      },
      cost: {
        perMillionPairings: perMillionPairings.usd,
        perLinkedDeviceDay: perLinkedDeviceDay.usd,
        perMillionAbandonedCodes: perMillionAbandonedCodes.usd,
        perMillionFrames: perMillionFrames.usd,
        pairing: { ...perMillionPairings, countedPerPairing: pairingCounts },
        linkedDeviceDay: perLinkedDeviceDay,
        abandonedCode: perMillionAbandonedCodes,
        relayedFrame: perMillionFrames,
        prices: PRICES,
      },
      durationS: round((performance.now() - began) / 1000, 0),
      plan: PLAN,
    };
    mkdirSync("bench/results", { recursive: true });
    const file = `bench/results/${result.when.replace(/[:.]/g, "-")}${quick ? "-quick" : ""}.json`;
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    // A quick run is a smoke test: its figures are not comparable, so it leaves the full run's README as it is.
    if (!quick) writeFileSync("bench/README.md", readme(result, file, PLAN));
    log(`bench: wrote ${file}${quick ? "" : " and bench/README.md"}`);
  } finally {
    clearTimeout(hardStop);
    await Promise.all([...runtimes.map((runtime) => runtime.stop()), floor?.stop()]);
    for (const script of scripts) removeBundle(script);
    log("stopped");
  }
}

// `npm run bench -- --readme bench/results/<file>.json` writes bench/README.md from a run's results, without running anything.
const readmeFrom = process.argv.indexOf("--readme");
if (readmeFrom >= 0) {
  const file = process.argv[readmeFrom + 1]!;
  const result = JSON.parse(readFileSync(file, "utf8")) as { mode: "quick" | "full"; plan?: unknown };
  writeFileSync("bench/README.md", readme(result, file, result.plan ?? PLANS[result.mode]));
  console.log(`bench: wrote bench/README.md from ${file}`);
} else if (relayOnly) await relaySection();
else await main();
// Keep-alive HTTP connections and closing sockets would hold the process open for minutes.
process.exit(0);
