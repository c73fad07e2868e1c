// "Link with phone number instead": the page opens a code session for the
// number typed, shows the code (XXXX-XXXX) with its countdown until the
// phone types it, checks each try (code-pairing.ts), shows the number to tap
// once a try verified, and links as after a scan (finish-link.ts).
import { formatLinkCode } from "../../shared/link-code";
import { MAX_LINKED_DEVICES, serverMessageSchema, type ServerMessage, type ServerMessageOf } from "../../shared/protocol";
import { BrowserCodePairing } from "./code-pairing";
import { $, showNotice } from "./dom";
import { finishLink } from "./finish-link";

/** What this screen needs of the page. */
export interface CodeScreenPage {
  setState(state: "loading" | "code" | "scanned" | "expired" | "error"): void;
  showError(title: string, message: string): void;
  returnToPairing(notice: string): void;
}

export class CodeScreen {
  private sessionId: string | null = null;
  /** Set once the session ended, this screen was stopped, or the chat screen took the socket over. */
  private done = false;
  private readonly socket: WebSocket;
  /** Messages are handled one at a time, in order. */
  private handled: Promise<void> = Promise.resolve();
  private countdown: ReturnType<typeof setInterval> | null = null;
  /** The tries the code started with: fewer left means a wrong code was typed. */
  private firstTriesLeft: number | null = null;

  private constructor(
    private readonly pairing: BrowserCodePairing,
    private readonly number: string,
    private readonly page: CodeScreenPage,
  ) {
    const url = new URL("/api/code-sessions/connect", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(url);
    this.socket.addEventListener("message", (event) => {
      this.handled = this.handled.then(() => this.onMessage(event.data)).catch((error: unknown) => console.error("code pairing message failed", error));
    });
    this.socket.addEventListener("close", () => this.onClose());
  }

  static async start(number: string, page: CodeScreenPage): Promise<CodeScreen> {
    page.setState("loading");
    return new CodeScreen(await BrowserCodePairing.create(), number, page);
  }

  stop(): void {
    if (this.done) return;
    this.finish();
    this.socket.close(1000, "closed");
  }

  private finish(): void {
    this.done = true;
    if (this.countdown) clearInterval(this.countdown);
  }

  private async onMessage(data: unknown): Promise<void> {
    if (this.done) return;
    const parsed = serverMessageSchema.safeParse(JSON.parse(String(data)));
    if (!parsed.success) return;
    const message: ServerMessage = parsed.data;
    switch (message.type) {
      case "session":
        this.sessionId = message.sessionId;
        this.socket.send(JSON.stringify(this.pairing.request(message.sessionId, location.host, this.number)));
        break;
      case "code_ready":
        this.showCode(message);
        break;
      case "code_try":
        await this.onTry(message);
        break;
      case "linked":
        await this.onLinked(message);
        break;
      case "refused":
        showNotice(message.code === "device_limit" ? `This phone already has ${MAX_LINKED_DEVICES} linked devices. Log one out on the phone to link this one.` : "The phone's account could not link this browser.");
        break;
      case "error":
        if (message.code === "rate_limited") this.fail("Too many codes for this number", "Wait a minute, then ask for a new code.");
        break;
      case "ended":
        this.onEnded(message.reason);
        break;
    }
  }

  /** The code, its countdown, and after a wrong try how many are left. */
  private showCode(message: ServerMessageOf<"code_ready">): void {
    $("link-code").textContent = formatLinkCode(this.pairing.code);
    const tries = $("code-tries");
    this.firstTriesLeft ??= message.triesLeft;
    tries.hidden = message.triesLeft === this.firstTriesLeft;
    tries.textContent = `The code typed on the phone was wrong. ${message.triesLeft} ${message.triesLeft === 1 ? "try" : "tries"} left.`;
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((message.expiresAt - Date.now()) / 1000));
      $("code-countdown").textContent = `This code works for ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")} more.`;
    };
    tick();
    if (this.countdown) clearInterval(this.countdown);
    this.countdown = setInterval(tick, 1_000);
    this.page.setState("code");
  }

  /** The phone typed a code: tell the server whether its MAC verified; on a match, show the number to tap. */
  private async onTry(message: ServerMessageOf<"code_try">): Promise<void> {
    const verdict = await this.pairing.check(message);
    this.socket.send(JSON.stringify({ type: "code_verdict", match: verdict.match }));
    if (!verdict.match) return;
    $("match-number").textContent = verdict.number;
    $("scan-refusal").hidden = true;
    this.page.setState("scanned");
  }

  private async onLinked(message: ServerMessageOf<"linked">): Promise<void> {
    const keys = await this.pairing.verifyLinked(message);
    this.finish();
    if (!keys || !this.sessionId) {
      this.socket.send(JSON.stringify({ type: "key_mismatch" }));
      this.page.showError("This link was refused", "The phone's answer did not match this code, so nothing was linked. Get a new code to try again.");
      return;
    }
    await finishLink(this.socket, this.sessionId, message, keys, this.page.returnToPairing);
  }

  private onEnded(reason: string): void {
    if (reason === "expired") {
      this.finish();
      this.page.setState("expired");
    } else if (reason === "too_many_attempts") this.fail("This code was withdrawn", "A wrong code was typed on the phone too many times. Get a new one when you are ready to link.");
    else if (reason === "wrong_number") this.fail("The numbers did not match", "The phone picked a number that is not the one this screen showed, so nothing was linked.");
    else {
      this.finish();
      this.page.returnToPairing("The link was rejected on the phone. Here is a fresh code.");
    }
  }

  private fail(title: string, message: string): void {
    this.finish();
    this.socket.close(1000, "done");
    this.page.showError(title, message);
  }

  private onClose(): void {
    if (this.done) return;
    this.fail("The connection was lost", "Nothing was linked. Get a new code to try again.");
  }
}
