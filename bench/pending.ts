// Pending sessions: browser tabs showing a QR code, each a Durable Object
// that hands its tab the token schedule (60 s, then 20 s, six tokens, each
// with its window) and whose socket sends the heartbeat every 10 s. The level is
// raised step by step; each step's new tabs arrive spread evenly over a ramp
// window, and a tab whose code expired opens a fresh one at once (the page
// offers a new code), so a level is held, not passed through. Per level: the
// workerd process's resident memory and CPU, the databases' bytes and how many
// are open, and how late each rotation was shown: a tab shows a token when
// its window starts or when it arrives, whichever is later.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { CLOSE_CODES, HEARTBEAT } from "../src/shared/protocol";
import { wsUrl } from "./clients";
import { percentile, round, sleep } from "./relay-load";
import { cpuMicros, directoryBytes, openFiles, residentBytes, type Runtime } from "./servers";

export interface PendingPlan {
  levels: number[];
  /** New tabs of a step arrive evenly over this long. */
  rampMs: number;
  /** Rotations are observed this long once a level is reached. */
  observeMs: number;
  /** The schedule's time scale: 1 is the real one; 20 makes every interval 20 times shorter. */
  scale: number;
  /** A rotation later than this, at p99, and the level is not held. */
  latenessLimitMs: number;
}

export interface PendingLevel {
  sessions: number;
  rssMiB: number;
  kibPerSession: number;
  databaseKibPerSession: number;
  workerdCores: number;
  workerdOpenFiles: number;
  /**
   * Objects awake, each with its database open (file, WAL, shared memory: three
   * files): the open files less the tabs' sockets, over three. workerd opens an
   * object's database whenever it wakes, and SQLite's heap is capped per process.
   */
  databasesOpen: number;
  lateness: { p50Ms: number; p99Ms: number; maxMs: number; rotations: number };
  reopened: number;
  held: boolean;
}

export async function pendingSessions(runtime: Runtime, plan: PendingPlan, log: (line: string) => void) {
  const baseRss = residentBytes(runtime.pid);
  const baseDb = directoryBytes(runtime.persist.dir);
  const heartbeatMs = HEARTBEAT.intervalMs / plan.scale;
  const live = new Set<WebSocket>();
  const failures: string[] = [];
  const lateness: number[] = [];
  let observing = false;
  let stopping = false;
  let reopened = 0;
  let opening = 0;
  const timers = new Set<NodeJS.Timeout>();

  const open = (): Promise<void> =>
    new Promise((resolve) => {
      opening += 1;
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        opening -= 1;
        resolve();
      };
      const socket = new WebSocket(wsUrl(runtime.url, "/api/sessions/connect"), { headers: { origin: runtime.url }, perMessageDeflate: false });
      let heartbeat: NodeJS.Timeout | undefined;
      const phase = setTimeout(() => {
        heartbeat = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send(HEARTBEAT.request), heartbeatMs);
      }, Math.random() * heartbeatMs);
      socket.on("message", (data: Buffer) => {
        if (data.length < 8) return; // pong
        const message = JSON.parse(String(data)) as { type: string; seq?: number; startsAt?: number };
        if (message.type !== "token") return;
        // A rotation is due when its token's window starts; it is shown then, or on arrival if that is later.
        if (message.seq! > 0) {
          const lateBy = Math.max(0, Date.now() - message.startsAt!);
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (observing) lateness.push(lateBy);
          }, message.startsAt! - Date.now());
          timers.add(timer);
        }
        if (message.seq === 0) {
          live.add(socket);
          settle();
        }
      });
      socket.on("unexpected-response", (_request, response) => {
        failures.push(`the upgrade was answered ${response.statusCode}`);
        socket.terminate();
      });
      socket.on("error", (error) => failures.push(error.message));
      socket.on("close", (code) => {
        clearTimeout(phase);
        clearInterval(heartbeat);
        live.delete(socket);
        settle();
        // The code expired unscanned: the tab shows a fresh one.
        if (!stopping && code === CLOSE_CODES.expired) {
          reopened += 1;
          void open();
        }
      });
    });

  const levels: PendingLevel[] = [];
  let limitedBy = "plan: every level was held";
  const started = performance.now();
  for (const level of plan.levels) {
    const adding = level - live.size - opening;
    const rampStart = performance.now();
    const opened: Promise<void>[] = [];
    for (let i = 0; i < adding && failures.length === 0; i++) {
      await sleep(rampStart + (i * plan.rampMs) / adding - performance.now());
      opened.push(open());
    }
    await Promise.race([Promise.all(opened), sleep(30_000)]);
    if (failures.length > 0) {
      limitedBy = `opening session ${live.size + 1} failed: ${failures[0]}`;
      log(`pending: ${limitedBy}`);
      break;
    }
    lateness.length = 0;
    const reopenedBefore = reopened;
    const cpuBefore = cpuMicros(runtime.pid);
    const observeStart = performance.now();
    observing = true;
    await sleep(plan.observeMs);
    observing = false;
    const cores = (cpuMicros(runtime.pid) - cpuBefore) / 1_000 / (performance.now() - observeStart);
    const rss = residentBytes(runtime.pid);
    const db = directoryBytes(runtime.persist.dir);
    const sorted = [...lateness].sort((a, b) => a - b);
    const row: PendingLevel = {
      sessions: live.size,
      rssMiB: round(rss / 2 ** 20, 1),
      kibPerSession: round((rss - baseRss) / 1024 / Math.max(1, live.size), 1),
      databaseKibPerSession: round((db - baseDb) / 1024 / Math.max(1, live.size), 1),
      workerdCores: round(cores, 2),
      workerdOpenFiles: openFiles(runtime.pid),
      databasesOpen: Math.max(0, Math.round((openFiles(runtime.pid) - live.size) / 3)),
      lateness: { p50Ms: round(percentile(sorted, 0.5), 0), p99Ms: round(percentile(sorted, 0.99), 0), maxMs: round(sorted.at(-1) ?? Number.NaN, 0), rotations: sorted.length },
      reopened: reopened - reopenedBefore,
      held: failures.length === 0 && live.size >= level * 0.99 && !(percentile(sorted, 0.99) > plan.latenessLimitMs),
    };
    levels.push(row);
    log(
      `pending ${level}: ${row.sessions} open, RSS ${row.rssMiB} MiB (${row.kibPerSession} KiB/session), databases ${row.databaseKibPerSession} KiB/session, ` +
        `workerd ${row.workerdCores} cores and ${row.workerdOpenFiles} open files (${row.databasesOpen} databases), lateness p50 ${row.lateness.p50Ms} ms p99 ${row.lateness.p99Ms} ms over ${row.lateness.rotations} rotations`,
    );
    if (!Number.isFinite(rss)) {
      row.held = false;
      limitedBy = `workerd exited at ${live.size} sessions`;
      break;
    }
    if (!row.held) {
      limitedBy = failures.length > 0 ? `opening failed: ${failures[0]}` : live.size < level * 0.99 ? `only ${live.size} of ${level} sessions stayed open` : `rotation lateness p99 ${row.lateness.p99Ms} ms over ${plan.latenessLimitMs} ms`;
      break;
    }
  }
  stopping = true;
  for (const timer of timers) clearTimeout(timer);
  for (const socket of live) socket.close();
  const held = levels.filter((level) => level.held);
  const top = held.at(-1) ?? null;
  return {
    schedule: { firstTokenMs: 60_000 / plan.scale, tokenMs: 20_000 / plan.scale, tokens: 6, heartbeatMs, scale: plan.scale },
    arrivals:
      `each step's new tabs arrive evenly over ${plan.rampMs / 1000} s (${round(60_000 / plan.rampMs, 2)}× the level per minute while it ramps); ` +
      "an expired code is replaced at once by a fresh session, so each step's tabs expire and come back together, a harder load than tabs spread over the 160 s a code lives",
    baseRssMiB: round(baseRss / 2 ** 20, 1),
    levels,
    ceiling: top?.sessions ?? 0,
    ceilingLimitedBy: limitedBy,
    kibPerSession: top?.kibPerSession ?? null,
    durationS: round((performance.now() - started) / 1000, 0),
  };
}
