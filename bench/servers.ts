// The servers the benchmark drives, all on 127.0.0.1 and all started the same
// way: a Worker bundled by `wrangler deploy --dry-run`, run in its own workerd
// process through the Miniflare API (no `wrangler dev` proxy in between), with
// its Durable Objects' databases in a persist directory the bench chooses.
//
// - QR Link itself (src/worker/index.ts, the deployed configuration);
// - QR Link with counters (bench/peers/qr-link-counted.js): the same classes
//   wrapped to count requests, alarms and rows written, for the cost and
//   idle-link figures only (never timed against the peers);
// - the peers: a bare hibernatable Durable Object relay and a partyserver room;
// - the floor: the Node `ws` relay (bench/baseline-relay.ts), in a child process.
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { Miniflare } from "miniflare";
import { unstable_readConfig } from "wrangler";
import { RATE_LIMITS } from "../src/worker/rate-limit";

const run = promisify(execFile);
const WRANGLER_ENV = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

export interface Runtime {
  name: string;
  url: string;
  /** The workerd process serving it: its CPU time and resident memory are read from /proc. */
  pid: number;
  /** Where its Durable Objects' SQLite files live, and on what. */
  persist: { dir: string; medium: "tmpfs" | "disk" };
  stop(): Promise<void>;
}

/** What wrangler.toml says about the runtime, read the way wrangler reads it, so every Worker here runs on the deployed configuration. */
export function wranglerConfig(): { compatibilityDate: string; compatibilityFlags: string[]; vars: Record<string, string>; assets: { directory: string; binding: string; runWorkerFirst: string[] } } {
  const config = unstable_readConfig({ config: "wrangler.toml" });
  const vars = Object.fromEntries(Object.entries(config.vars).map(([name, value]) => [name, String(value)]));
  const runWorkerFirst = Array.isArray(config.assets?.run_worker_first) ? config.assets.run_worker_first : [];
  return {
    compatibilityDate: config.compatibility_date ?? "2026-04-20",
    compatibilityFlags: config.compatibility_flags,
    vars,
    assets: { directory: resolve(config.assets?.directory ?? "public"), binding: config.assets?.binding ?? "ASSETS", runWorkerFirst },
  };
}

/**
 * Bundles a Worker as `wrangler deploy` would, without reaching Cloudflare.
 * QR Link uses the project's wrangler.toml (an `entry` overrides its main);
 * a peer gets a wrangler.toml of its own, written next to its bundle.
 */
export async function bundle(name: string, options: { entry?: string; config?: string } = {}): Promise<string> {
  const outdir = mkdtempSync(join(tmpdir(), `qr-link-bench-${name}-`));
  const args = ["wrangler", "deploy", "--dry-run", "--outdir", outdir];
  if (options.config) args.push("--config", options.config);
  if (options.entry) args.push(resolve(options.entry));
  await run("npx", args, { env: WRANGLER_ENV, maxBuffer: 16 * 2 ** 20 });
  const script = readdirSync(outdir).find((file) => file.endsWith(".js"));
  if (!script) throw new Error(`wrangler wrote no script for ${name}`);
  return join(outdir, script);
}

/** A wrangler.toml for a peer: the project's compatibility settings and one SQLite-backed class. */
export function peerConfig(name: string, main: string, binding: string, className: string): string {
  const { compatibilityDate, compatibilityFlags } = wranglerConfig();
  const dir = mkdtempSync(join(tmpdir(), `qr-link-bench-${name}-config-`));
  const file = join(dir, "wrangler.toml");
  writeFileSync(
    file,
    [
      `name = "${name}"`,
      `main = "${resolve(main)}"`,
      `compatibility_date = "${compatibilityDate}"`,
      `compatibility_flags = [${compatibilityFlags.map((flag) => `"${flag}"`).join(", ")}]`,
      "",
      "[[durable_objects.bindings]]",
      `name = "${binding}"`,
      `class_name = "${className}"`,
      "",
      "[[migrations]]",
      'tag = "v1"',
      `new_sqlite_classes = ["${className}"]`,
      "",
    ].join("\n"),
  );
  return file;
}

/** A fresh persist directory: on tmpfs (/dev/shm) by default, or on the disk that holds the system's temp directory. */
export function persistDir(name: string, medium: "tmpfs" | "disk"): { dir: string; medium: "tmpfs" | "disk" } {
  const root = medium === "tmpfs" && isDirectory("/dev/shm") ? "/dev/shm" : tmpdir();
  return { dir: mkdtempSync(join(root, `qr-link-bench-${name}-`)), medium: root === "/dev/shm" ? "tmpfs" : "disk" };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function workerdPids(): Set<number> {
  const found = new Set<number>();
  const walk = (pid: number) => {
    let out = "";
    try {
      out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(pid)], { encoding: "utf8" });
    } catch {
      return;
    }
    for (const line of out.trim().split("\n").filter(Boolean)) {
      const [child, name] = line.trim().split(/\s+/);
      if (name === "workerd") found.add(Number(child));
      else walk(Number(child));
    }
  };
  walk(process.pid);
  return found;
}

export interface RuntimeOptions {
  name: string;
  scriptPath: string;
  durableObjects: Record<string, { className: string; useSQLite: true }>;
  bindings?: Record<string, string>;
  /** Lift the app's rate limits (every bench client is 127.0.0.1). */
  liftRateLimits?: boolean;
  medium: "tmpfs" | "disk";
  /** Lines workerd writes (console.log of the Worker), for the counted app. */
  onLog?: (line: string) => void;
  /** Serve public/ (the pages) as wrangler.toml's [assets] says, for a real browser; an assets router then sits before the Worker. */
  assets?: boolean;
}

/** wrangler.toml's [assets] for Miniflare: the directory, the binding, and the paths that reach the Worker first. */
/** wrangler.toml's [assets]; the pages themselves are built by its [build] step, which `bundle` runs. */
function assetsOptions() {
  const { directory, binding, runWorkerFirst } = wranglerConfig().assets;
  return { directory, binding, routerConfig: { has_user_worker: true, ...(runWorkerFirst.length ? { static_routing: { user_worker: runWorkerFirst } } : {}) } };
}

/**
 * Starts one Worker in its own workerd process. Call these one after another:
 * the new workerd child is told apart from the others by being new.
 */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { compatibilityDate, compatibilityFlags } = wranglerConfig();
  const before = workerdPids();
  const persist = persistDir(options.name, options.medium);
  const mf = new Miniflare({
    name: options.name,
    scriptPath: options.scriptPath,
    modules: true,
    modulesRoot: dirname(options.scriptPath),
    compatibilityDate,
    compatibilityFlags,
    host: "127.0.0.1",
    port: 0,
    bindings: options.bindings ?? {},
    ...(options.liftRateLimits
      ? { ratelimits: Object.fromEntries(Object.values(RATE_LIMITS).map((rule) => [rule.binding, { simple: { limit: 1_000_000_000, period: rule.periodSeconds } }])) }
      : {}),
    durableObjects: options.durableObjects,
    durableObjectsPersist: persist.dir,
    ...(options.assets ? { assets: assetsOptions() } : {}),
    // QR Link's photo and file bucket (wrangler.toml's [[r2_buckets]]), kept beside its objects' databases.
    ...("MEDIA_BLOBS" in options.durableObjects ? { r2Buckets: ["MEDIA"], r2Persist: persist.dir } : {}),
    ...(options.onLog
      ? {
          handleRuntimeStdio: (stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) => {
            for (const stream of [stdout, stderr]) {
              let rest = "";
              stream.on("data", (chunk: Buffer) => {
                const lines = (rest + chunk.toString("utf8")).split("\n");
                rest = lines.pop() ?? "";
                for (const line of lines) options.onLog!(line);
              });
            }
          },
        }
      : {}),
  });
  const url = (await mf.ready).origin;
  const pid = [...workerdPids()].find((candidate) => !before.has(candidate));
  if (pid === undefined) throw new Error(`no workerd process found for ${options.name}`);
  return {
    name: options.name,
    url,
    pid,
    persist,
    stop: async () => {
      try {
        await mf.dispose();
      } catch (error) {
        console.error(`${options.name}: ${(error as Error).message}`);
      }
      rmSync(persist.dir, { recursive: true, force: true });
    },
  };
}

/** QR Link's bindings: wrangler.toml's [vars], the per-socket allowance lifted (capacity figures), and the bench's overrides. */
export function appBindings(overrides: Record<string, string>): Record<string, string> {
  return { ...wranglerConfig().vars, SOCKET_MESSAGES_PER_SECOND: "1000000", ...overrides };
}

export const APP_OBJECTS = {
  PAIRING_SESSION: { className: "PairingSession", useSQLite: true },
  ACCOUNT: { className: "Account", useSQLite: true },
  MEDIA_BLOBS: { className: "MediaBlobs", useSQLite: true },
} as const;

// ---------------------------------------------------------------------------
// /proc readings

/**
 * CPU time of a process in microseconds, all its threads: the sum of each
 * thread's run time from /proc/<pid>/task/<tid>/schedstat (nanoseconds), or
 * utime + stime from /proc/<pid>/stat (10 ms ticks) where schedstat is missing.
 */
export function cpuMicros(pid: number): number {
  try {
    let total = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]) / 1_000;
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
    if (total > 0) return total;
  } catch {
    // No /proc/<pid>/task: fall through to stat.
  }
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100;
  } catch {
    return Number.NaN; // The process has exited.
  }
}

/** Resident memory of a process; NaN once it has exited. */
export function residentBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** How many files (sockets, databases) a process holds open. */
export function openFiles(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** Bytes under a directory (the databases of a persist directory). */
export function directoryBytes(dir: string): number {
  let total = 0;
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        try {
          total += statSync(full).size;
        } catch {
          // Deleted meanwhile.
        }
      }
    }
  };
  try {
    walk(dir);
  } catch {
    return 0;
  }
  return total;
}

/** The filesystem type under a path, from /proc/mounts (longest matching mount point). */
export function filesystemOf(path: string): string {
  try {
    const mounts = readFileSync("/proc/mounts", "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(" "))
      .filter(([, point]) => path === point || path.startsWith(point === "/" ? "/" : `${point}/`))
      .sort((a, b) => b[1]!.length - a[1]!.length);
    return mounts[0] ? `${mounts[0][2]} (${mounts[0][0]} on ${mounts[0][1]})` : "unknown";
  } catch {
    return "unknown";
  }
}

// ---------------------------------------------------------------------------
// The floor: the Node `ws` relay in a child process of its own, so its CPU is its own.

export interface Floor {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startFloor(): Promise<Floor> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "bench/baseline-relay.ts"], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolveUrl(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`the baseline relay exited (${code})`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: () =>
      new Promise((resolveStop) => {
        if (child.exitCode !== null) return resolveStop();
        child.once("exit", () => resolveStop());
        child.kill("SIGTERM");
      }),
  };
}

/** Raises this process's open-files limit to the hard limit; workerd, started after, inherits it. */
export function raiseOpenFilesLimit(): string {
  try {
    const hard = execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
    execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${hard}:${hard}`]);
    return hard;
  } catch {
    return execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  }
}

/** Removes a bundle's (or a peer config's) temporary directory. */
export function removeBundle(scriptPath: string): void {
  rmSync(dirname(scriptPath), { recursive: true, force: true });
}

export function ensureDir(path: string): void {
  mkdirSync(path, { recursive: true });
}
