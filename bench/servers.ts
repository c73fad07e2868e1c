// The two servers the benchmark drives, both on 127.0.0.1: QR Link itself
// (the bundled Worker in workerd through the Miniflare API, no wrangler dev
// proxy in between) and the baseline relay in this folder.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { RATE_LIMITS } from "../src/worker/rate-limit";
import { startBaseline, type Baseline } from "./baseline-relay";

export interface AppServer {
  url: string;
  /** The workerd process serving the app, for its resident memory. */
  runtimePid: number | null;
  stop(): Promise<void>;
}

/** Bundles the Worker as `wrangler deploy` would, without reaching Cloudflare. */
function bundleWorker(): string {
  const outdir = mkdtempSync(join(tmpdir(), "qr-link-bench-build-"));
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], {
    stdio: "ignore",
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  });
  return join(outdir, "index.js");
}

/** Reads wrangler.toml's [vars] (flat string values), so the bench runs the deployed configuration. */
function wranglerVars(): Record<string, string> {
  const vars: Record<string, string> = {};
  const section = /\[vars\]([\s\S]*?)(\n\[|$)/.exec(readFileSync("wrangler.toml", "utf8"))?.[1] ?? "";
  for (const match of section.matchAll(/^(\w+)\s*=\s*"([^"]*)"/gm)) vars[match[1]!] = match[2]!;
  return vars;
}

function childPids(pid: number): number[] {
  try {
    const out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(pid)], { encoding: "utf8" });
    return out
      .trim()
      .split("\n")
      .filter(Boolean)
      .flatMap((line) => {
        const [child, name] = line.trim().split(/\s+/);
        return name === "workerd" ? [Number(child)] : childPids(Number(child));
      });
  } catch {
    return [];
  }
}

export function residentBytes(pid: number | null): number {
  if (pid === null) return 0;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

export async function startApp(vars: Record<string, string>): Promise<AppServer> {
  const scriptPath = bundleWorker();
  const mf = new Miniflare({
    scriptPath,
    modules: true,
    modulesRoot: join(scriptPath, ".."),
    compatibilityDate: "2026-04-20",
    compatibilityFlags: ["nodejs_compat"],
    host: "127.0.0.1",
    port: 0,
    // Every bench phone comes from 127.0.0.1 and floods its socket: the
    // per-address and per-socket limits are lifted to measure capacity. The
    // bindings are still called on every request.
    bindings: { ...wranglerVars(), SOCKET_MESSAGES_PER_SECOND: "1000000", ...vars },
    ratelimits: Object.fromEntries(Object.values(RATE_LIMITS).map((rule) => [rule.binding, { simple: { limit: 1_000_000_000, period: rule.periodSeconds } }])),
    durableObjects: {
      PAIRING_SESSION: { className: "PairingSession", useSQLite: true },
      ACCOUNT: { className: "Account", useSQLite: true },
    },
    durableObjectsPersist: false,
  });
  const url = (await mf.ready).origin;
  return { url, runtimePid: childPids(process.pid)[0] ?? null, stop: () => mf.dispose() };
}

export { startBaseline, type Baseline };

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
