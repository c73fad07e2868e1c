// Linking with a code instead of a QR scan. The browser opens a code session
// and names a number; the number's Account remembers the session, so that
// phone (and only it: its requests are signed) finds it when its user types
// the code. The code never reaches the server: the browser sends its CPace
// share and X25519 key, the phone its own with a confirmation MAC made from
// the code it was given, and the browser says whether that MAC verifies. A
// wrong code costs a try; the last try ends the session. A verified try then
// goes on as a scan does: number matching, confirm, linked.
import { RATE_LIMITS, withinRateLimit } from "../rate-limit";
import { comparePlaces, type Place } from "../device-context";
import { failure, success, type Outcome } from "../outcome";
import type { AccountInfo, ClientMessage, CodeFindResponse, CodeTryRequest } from "../../shared/protocol";
import type { Lifecycle } from "./lifecycle";
import type { SessionParts } from "./parts";
import type { CodeRequest, Description, PendingSession, Session } from "./session";
import { send } from "./sockets";

/** How a phone's try ended: the browser's answer, no answer in time, or the browser went away. */
type Verdict = "match" | "mismatch" | "silent" | "gone";

type WaitingSession = PendingSession & { code: CodeRequest & { number: string; browserShare: string; browserPublicKey: string } };

export class CodeLinking {
  /** The try under way waits here for the browser's verdict; in memory, since the phone's request holds the object awake. */
  private settleTry: ((verdict: Verdict) => void) | null = null;

  constructor(
    private readonly parts: SessionParts,
    private readonly lifecycle: Lifecycle,
  ) {}

  private get store() {
    return this.parts.store;
  }

  /** A browser opens a code session: it has until the code's lifetime to name its number. */
  open(sessionId: string, device: Description, now: number): void {
    this.store.openCode({ sessionId, createdAt: now, device }, now + this.parts.config.codeTtlMs);
  }

  /**
   * The browser names the number and sends its share: stored, offered to the
   * number's Account (which withdraws the number's previous code), then the
   * browser is told the code is live. Counted per number first.
   */
  async request(ws: WebSocket, session: Session, message: Extract<ClientMessage, { type: "code_request" }>): Promise<void> {
    const rule = RATE_LIMITS.codesPerNumber;
    if (!(await withinRateLimit(this.parts.env, rule, message.number))) {
      const retryAfterMs = rule.periodSeconds * 1000;
      return send(ws, { type: "error", code: "rate_limited", message: `at most ${rule.limit} codes a minute for one number; ask again later`, retryAfterMs });
    }
    const expiresAt = Date.now() + this.parts.config.codeTtlMs;
    this.store.requestCode(message.number, message.browserShare, message.browserPublicKey, expiresAt);
    let replaced: string | null;
    try {
      replaced = await this.parts.env.ACCOUNT.getByName(message.number).offerCode(session.sessionId, expiresAt);
    } catch (error) {
      // No phone could find this session: it ends now rather than show a code that cannot work.
      console.error("offerCode failed; the code session ends", error);
      return this.lifecycle.end("expired");
    }
    if (replaced) {
      await this.parts.env.PAIRING_SESSION.getByName(replaced)
        .withdrawCode()
        .catch((error: unknown) => console.error("the replaced code session did not answer; it expires on its own", error));
    }
    this.parts.sockets.announceTo("browser", { type: "code_ready", expiresAt, triesLeft: this.triesLeft(0) });
    await this.lifecycle.rearm();
  }

  private triesLeft(wrongTries: number): number {
    return Math.max(0, this.parts.config.codeTries - wrongTries);
  }

  /** The session waiting for a code from this number's phone, if this is it and it is still live. */
  private waitingFor(number: string, now: number): WaitingSession | null {
    const session = this.store.session();
    if (session?.state !== "pending" || !session.code) return null;
    const { code } = session;
    if (code.number !== number || !code.browserShare || !code.browserPublicKey || now >= code.expiresAt) return null;
    return session as WaitingSession;
  }

  /** The number's phone looks for its code: who asks to be linked, and the browser's share and key. */
  find(number: string, phonePlace: Place, now: number): Outcome<CodeFindResponse> {
    const session = this.waitingFor(number, now);
    if (!session) return failure("session_not_found", "no code is waiting for this number; ask for a new one on the computer");
    const { browser, os, place, ipPrefix, where } = session.device;
    const { browserShare, browserPublicKey } = session.code;
    return success({ sessionId: session.sessionId, browserShare, browserPublicKey, browser, os, place, ipPrefix, qrCreatedAt: session.createdAt, ...comparePlaces(where, phonePlace) });
  }

  /**
   * The phone tries the code its user typed: its key is committed (as a scan
   * commits it) and the browser checks its MAC. The answer waits for the
   * browser's verdict: a match lets the phone go on to number matching and
   * confirm; a mismatch costs a try, and the last one ends the session.
   */
  async try(account: AccountInfo, attempt: CodeTryRequest, now: number): Promise<Outcome<null>> {
    const current = this.store.session();
    if (current?.code && current.state === "scanned" && current.scannedBy === account.number) {
      return failure("wrong_state", "a code from this phone is being checked or waits for its confirm");
    }
    const session = this.waitingFor(account.number, now);
    if (!session || session.sessionId !== attempt.sessionId) return failure("session_not_found", "no code is waiting for this number; ask for a new one on the computer");
    this.store.scan(account.number, attempt.phonePublicKey, now);
    const verdict = this.awaitVerdict();
    const { phoneShare, phonePublicKey, confirmation } = attempt;
    this.parts.sockets.announceTo("browser", { type: "code_try", phoneShare, phonePublicKey, confirmation, account });
    await this.lifecycle.rearm();
    const answer = await verdict;
    if (answer === "gone" || this.store.session()?.state !== "scanned") return failure("session_not_found", "the computer is no longer waiting for this code");
    if (answer === "match") return success(null);
    this.store.backToPending();
    if (answer === "silent") {
      await this.lifecycle.rearm();
      return failure("unavailable", "the computer did not answer; type the code again");
    }
    const left = this.triesLeft(this.store.countWrongScan());
    if (left === 0) {
      await this.lifecycle.end("too_many_attempts");
      return failure("wrong_code", "that is not the code on the computer, and it was the last try: ask the computer for a new code");
    }
    this.parts.sockets.announceTo("browser", { type: "code_ready", expiresAt: session.code.expiresAt, triesLeft: left });
    await this.lifecycle.rearm();
    return failure("wrong_code", `that is not the code on the computer; ${left} ${left === 1 ? "try" : "tries"} left`);
  }

  private awaitVerdict(): Promise<Verdict> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle("silent"), this.parts.config.codeVerdictTimeoutMs);
      this.settleTry = (verdict) => {
        clearTimeout(timer);
        this.settleTry = null;
        resolve(verdict);
      };
    });
  }

  private settle(verdict: Verdict): void {
    this.settleTry?.(verdict);
  }

  /** The browser's verdict on the try under way; one that comes after its try was given up is ignored. */
  verdict(match: boolean): void {
    if (!this.settleTry) return;
    if (match) this.store.codeChecked(Date.now());
    this.settle(match ? "match" : "mismatch");
  }

  /** The browser went away: a try under way is answered at once. */
  browserGone(): void {
    this.settle("gone");
  }

  /** A newer code for the same number replaced this one: it ends, unless it already went further. */
  async withdraw(): Promise<void> {
    const session = this.store.session();
    if (session?.code && (session.state === "pending" || session.state === "scanned")) await this.lifecycle.end("expired");
    this.settle("gone");
  }
}
