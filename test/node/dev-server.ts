// Starts the app as a user would, with `wrangler dev` on free loopback ports,
// offline settings and a throwaway state folder; stops it afterwards.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface DevServer {
  url: string;
  stop(): Promise<void>;
}

export const OFFLINE_ENV = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface DevServerOptions {
  /** Override wrangler.toml [vars], e.g. shorter token periods. */
  vars?: Record<string, string>;
  /** Keep state in this folder (and leave it there), to restart on the same state. */
  stateDir?: string;
  /** Listen on this port (a restart where clients wait at the same address); a free one by default. */
  port?: number;
}

export async function startDevServer({ vars = {}, stateDir, port: fixedPort }: DevServerOptions = {}): Promise<DevServer> {
  const [port, inspectorPort] = [fixedPort ?? (await freePort()), await freePort()];
  const state = stateDir ?? (await mkdtemp(join(tmpdir(), "qr-link-dev-")));
  const args = ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", state, "--show-interactive-dev-session=false"];
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
  const child: ChildProcess = spawn("npx", args, { env: OFFLINE_ENV, stdio: ["ignore", "pipe", "pipe"], detached: true });

  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start in 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready on")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`wrangler dev exited with ${code}:\n${output}`)));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      if (child.pid) process.kill(-child.pid, "SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (child.exitCode === null && child.pid) process.kill(-child.pid, "SIGKILL");
      if (!stateDir) await rm(state, { recursive: true, force: true });
    },
  };
}
