// "Link with phone number instead": the page opens a code session for the
// number typed, shows the code (XXXX-XXXX) with its countdown until the
// phone types it, checks each try (code-pairing.ts), shows the number to tap
// once a try verified, and links as after a scan (finish-link.ts).
import { formatLinkCode } from "../../shared/link-code";
import { MAX_LINKED_DEVICES, type ServerMessage, type ServerMessageOf } from "../../shared/protocol";
import type { Ending } from "../connection/close-codes";
import { Connection } from "../connection/connection";
import { BrowserCodePairing } from "./code-pairing";
import { $, showNotice } from "./dom";
import { finishLink } from "./finish-link";
import type { StoredLink } from "./link-store";

/** What this screen needs of the page. */
export interface CodeScreenPage {
  setState(state: "loading" | "code" | "scanned" | "expired" | "error"): void;
  showError(title: string, message: string): void;
  returnToPairing(notice: string): void;
  showChats(link: StoredLink, linking: Connection): Promise<void>;
}

export class CodeScreen {
  private sessionId: string | null = null;
  /** Set once the session ended, this screen was stopped, or the chat screen took the connection over. */
  private done = false;
  private readonly connection: Connection;
  /** Messages are handled one at a time, in order. */
  private handled: Promise<void> = Promise.resolve();
  private countdown: ReturnType<typeof setInterval> | null = null;
  /** The tries the code started with: fewer left means a wrong code was typed. */
  private firstTriesLeft: number | null = null;

  /** A dropped connection reconnects to a fresh session, with a fresh code (a code is never tried in two sessions). */
  private constructor(
    private pairing: BrowserCodePairing,
    private readonly number: string,
    private readonly page: CodeScreenPage,
  ) {
    const url = new URL("/api/code-sessions/connect", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.connection = new Connection(
      { role: "pairing", target: () => ({ url: url.toString() }) },
      {
        message: (message) => this.inTurn(() => this.onMessage(message)),
        reconnecting: () => {
          if (!this.done) this.page.setState("loading");
        },
        ended: (ending) => this.inTurn(async () => this.onEnded(ending)),
      },
    );
  }

  /** Handles messages and the ending one at a time, in the order they came. */
  private inTurn(handle: () => Promise<void>): void {
    this.handled = this.handled.then(handle).catch((error: unknown) => console.error("code pairing message failed", error));
  }

  static async start(number: string, page: CodeScreenPage): Promise<CodeScreen> {
    page.setState("loading");
    return new CodeScreen(await BrowserCodePairing.create(), number, page);
  }

  stop(): void {
    if (this.done) return;
    this.finish();
    this.connection.close();
  }

  private finish(): void {
    this.done = true;
    if (this.countdown) clearInterval(this.countdown);
  }

  private async onMessage(message: ServerMessage): Promise<void> {
    if (this.done) return;
    switch (message.type) {
      case "session":
        if (this.sessionId) this.pairing = await BrowserCodePairing.create();
        this.sessionId = message.sessionId;
        this.connection.send(this.pairing.request(message.sessionId, location.host, this.number));
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
    this.connection.send({ type: "code_verdict", match: verdict.match });
    if (!verdict.match) return;
    $("match-number").textContent = verdict.number;
    $("scan-refusal").hidden = true;
    this.page.setState("scanned");
  }

  private async onLinked(message: ServerMessageOf<"linked">): Promise<void> {
    const keys = await this.pairing.verifyLinked(message);
    this.finish();
    if (!keys || !this.sessionId) {
      this.connection.send({ type: "key_mismatch" });
      this.page.showError("This link was refused", "The phone's answer did not match this code, so nothing was linked. Get a new code to try again.");
      return;
    }
    await finishLink(this.connection, this.sessionId, message, keys, this.page.showChats);
  }

  private onEnded({ reason }: Ending): void {
    if (this.done) return;
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
    this.connection.close("done");
    this.page.showError(title, message);
  }
}
