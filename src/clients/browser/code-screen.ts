// "Link with phone number instead": the page opens a code session for the
// number typed, shows the code (XXXX-XXXX) with its countdown until the
// phone types it, checks each try (code-pairing.ts), shows the number to tap
// once a try verified, and links as after a scan (finish-link.ts).
import { formatLinkCode } from "../../shared/link-code";
import type { ServerMessage, ServerMessageOf } from "../../shared/protocol";
import type { Ending } from "../connection/close-codes";
import type { Connection } from "../connection/connection";
import { BrowserCodePairing } from "./code-pairing";
import { $, showNotice } from "./dom";
import { finishLink } from "./finish-link";
import type { StoredLink } from "./link-store";
import { openPairingConnection, refusalText } from "./pairing-connection";

/** What this screen needs of the page. */
export interface CodeScreenPage {
  setState(state: "loading" | "code" | "scanned" | "expired" | "error"): void;
  showError(title: string, message: string): void;
  returnToPairing(notice: string): void;
  showChats(link: StoredLink, linking: Connection): Promise<void>;
}

/** What the page says when the phone's answer did not verify: nothing was linked. */
const LINK_REFUSED = ["This link was refused", "The phone's answer did not match this code, so nothing was linked. Get a new code to try again."] as const;

export class CodeScreen {
  private sessionId: string | null = null;
  /** Set once the session ended, this screen was stopped, or the chat screen took the connection over. */
  private done = false;
  private readonly connection: Connection;
  private countdown: ReturnType<typeof setInterval> | null = null;
  /** The tries the code started with: fewer left means a wrong code was typed. */
  private firstTriesLeft: number | null = null;

  /** A dropped connection reconnects to a fresh session, with a fresh code (a code is never tried in two sessions). */
  constructor(
    private pairing: BrowserCodePairing,
    private readonly number: string,
    private readonly page: CodeScreenPage,
  ) {
    this.connection = openPairingConnection("/api/code-sessions/connect", {
      message: (message) => this.onMessage(message),
      reconnecting: () => {
        if (!this.done) this.page.setState("loading");
      },
      ended: (ending) => this.onEnded(ending),
    });
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
        // A new session's code starts with every try: a wrong try in the one before is not this code's.
        this.firstTriesLeft = null;
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
        showNotice(refusalText(message));
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
      this.page.showError(...LINK_REFUSED);
      return;
    }
    await finishLink(this.connection, this.sessionId, message, keys, this.page.showChats);
  }

  private onEnded({ reason, notice }: Ending): void {
    if (this.done) return;
    if (reason === "expired") {
      this.finish();
      this.page.setState("expired");
    } else if (reason === "too_many_attempts") this.fail("This code was withdrawn", "A wrong code was typed on the phone too many times. Get a new one when you are ready to link.");
    else if (reason === "wrong_number") this.fail("The numbers did not match", "The phone picked a number that is not the one this screen showed, so nothing was linked.");
    else if (reason === "key_mismatch") this.fail(...LINK_REFUSED);
    else {
      // Rejected on the phone (or ended otherwise): back to a fresh QR code, saying why.
      this.finish();
      this.page.returnToPairing(notice);
    }
  }

  private fail(title: string, message: string): void {
    this.finish();
    this.connection.close("done");
    this.page.showError(title, message);
  }
}
