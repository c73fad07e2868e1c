// Runs the phone simulator CLI as a user would, and a WebSocket "browser"
// that records what the server tells it.
import { spawn } from "node:child_process";
import WebSocket from "ws";
import { BrowserPairing } from "../../src/clients/browser/pairing";
import { TokenSchedule } from "../../src/clients/browser/token-schedule";
import { serverMessageSchema, type ServerMessage } from "../../src/shared/protocol";
import { OFFLINE_ENV } from "./dev-server";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunningPhone {
  /** Types an answer at the CLI's prompt, and nothing after it. */
  answer(text: string): void;
  /** Types a line, and more may follow. */
  type(line: string): void;
  /** What it has printed so far. */
  output(): string;
  /** Waits until its output matches. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Ctrl-C. */
  interrupt(): void;
  done: Promise<CliResult>;
}

/** `env` adds to the environment the CLI runs with (QR_LINK_SERVER, …). */
export function spawnPhone(args: string[], env: Record<string, string> = {}): RunningPhone {
  // A phone that goes online has contacts who only answer, so what a test sees is what it caused.
  const quiet = ["link", "link-code", "online"].includes(args[0] ?? "") ? ["--quiet"] : [];
  const child = spawn("node_modules/.bin/tsx", ["src/clients/phone-cli/cli.ts", ...args, ...quiet], { env: { ...OFFLINE_ENV, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const done = new Promise<CliResult>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    }),
  );
  return {
    answer: (text) => child.stdin.end(text),
    type: (line) => child.stdin.write(`${line}\n`),
    output: () => stdout,
    async waitForOutput(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stdout)) {
        if (Date.now() > deadline) throw new Error(`the phone did not print ${pattern}; it printed:\n${stdout}${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    interrupt: () => child.kill("SIGINT"),
    done,
  };
}

export function runPhone(args: string[], input = "", env: Record<string, string> = {}): Promise<CliResult> {
  const phone = spawnPhone(args, env);
  phone.answer(input);
  return phone.done;
}

/**
 * `link` as a user does it: the phone scans, the computer shows a number, the
 * user types it. `shownNumber` reads it off the computer (a SocketBrowser, or
 * the page); `pick` may change what is typed.
 */
export async function linkByTyping(args: string[], shownNumber: () => Promise<string>, pick: (shown: string) => string = (shown) => shown): Promise<CliResult & { shown: string }> {
  const phone = spawnPhone(["link", ...args]);
  await phone.waitForOutput(/type the number the computer shows/, 10_000).catch(async (error: Error) => {
    phone.interrupt();
    const result = await phone.done;
    throw new Error(`${error.message}
${result.stderr}`);
  });
  const shown = await shownNumber();
  phone.answer(`${pick(shown)}\n`);
  return { ...(await phone.done), shown };
}

type MessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

/** A browser session over a plain WebSocket, with the page's own pairing logic. */
export class SocketBrowser {
  readonly messages: ServerMessage[] = [];
  closeCode: number | null = null;

  private constructor(
    readonly server: string,
    readonly socket: WebSocket,
    readonly pairing: BrowserPairing,
  ) {
    socket.on("message", (data) => this.messages.push(serverMessageSchema.parse(JSON.parse(String(data)))));
    socket.on("close", (code) => (this.closeCode = code));
  }

  static async open(server: string): Promise<SocketBrowser> {
    const socket = new WebSocket(`${server.replace("http", "ws")}/api/sessions/connect`, { origin: server });
    const browser = new SocketBrowser(server, socket, await BrowserPairing.create());
    // The whole token schedule comes at once.
    const { count } = await browser.waitFor("token");
    while (browser.messages.filter((message) => message.type === "token").length < count) await new Promise((resolve) => setTimeout(resolve, 10));
    return browser;
  }

  async waitFor<T extends ServerMessage["type"]>(type: T, timeoutMs = 5_000): Promise<MessageOf<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.filter((message): message is MessageOf<T> => message.type === type).at(-1);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no "${type}" message; got ${JSON.stringify(this.messages)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  get sessionId(): string {
    return (this.messages.find((message) => message.type === "session") as MessageOf<"session">).sessionId;
  }

  /** The QR code on screen now: the token whose window has begun (the server's clock is this machine's). */
  async qrText(): Promise<string> {
    await this.waitFor("token");
    const schedule = new TokenSchedule(0);
    for (const message of this.messages) if (message.type === "token") schedule.add(message);
    return this.pairing.qrText(this.server, this.sessionId, schedule.due(Date.now())!.token);
  }

  /** Once a phone scanned: the two digits this browser shows (number matching). */
  async shownNumber(timeoutMs = 10_000): Promise<string> {
    const number = await this.pairing.scanned(this.sessionId, await this.waitFor("scanned", timeoutMs));
    if (number === null) throw new Error("the phone's key cannot be used");
    return number;
  }

  close(): void {
    this.socket.close();
  }
}
