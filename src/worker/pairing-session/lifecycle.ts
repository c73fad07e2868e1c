// The session's transitions: open, scan, confirm, link, end, and the
// outbox of calls to the Account that are retried until both objects agree.
// Each is persisted, then announced, then the alarm is re-armed from state.
import { ACTIVITY_RESOLUTION_MS } from "../config";
import { CLOSE_CODES, LINK_REFUSALS, type ConfirmResponse, type DeviceContext, type EndReason } from "../../shared/protocol";
import { comparePlaces, type Place } from "../device-context";
import { failure, success, type Outcome } from "../outcome";
import { deadlines, dueNow, nextAlarm, retryDelayMs, silentAt, type DeadlineName } from "./deadlines";
import type { SessionParts } from "./parts";
import { close } from "./sockets";
import type { Description, LinkProof, OutboxEntry } from "./session";
import { afterWrongScan, issueTokens, isLiveToken, onScreen, replaceFrom, scheduled, scheduleEnd, type LiveTokens } from "./tokens";

export class Lifecycle {
  /** Set while this object waits on `Account.addDevice`: a removal owed meanwhile waits until the addition has landed. */
  private confirmInFlight = false;
  /** The outbox run under way, if any: runs go one after another. */
  private settling: Promise<void> | null = null;
  /** When silent sockets were last looked for. */
  private lastSilenceCheckAt = 0;

  constructor(private readonly parts: SessionParts) {}

  private get store() {
    return this.parts.store;
  }

  /** A QR session opens on the browser socket `ws`, which keeps its state until the scan, with its whole token schedule. */
  open(ws: WebSocket, sessionId: string, device: Description, now: number): LiveTokens {
    const tokens = issueTokens(this.parts.config, now);
    this.store.open(ws, { sessionId, createdAt: now, device }, tokens);
    return tokens;
  }

  /**
   * The schedule as the browser gets it, one message a token, each with its
   * window. The one on screen now comes last, so a page from before windows
   * existed (which shows each token as it arrives) shows it.
   */
  tokenMessages(live: LiveTokens) {
    const count = this.parts.config.tokenCount;
    const messages = scheduled(live).map(({ token, seq, startsAt, expiresAt }) => ({ type: "token", token, seq, count, startsAt, expiresAt }) as const);
    return [...messages.slice(1), ...messages.slice(0, 1)];
  }

  /**
   * A phone scanned the QR: spends the token, commits the phone's key, and
   * tells the browser at once (with that key, from which it derives the number
   * to show). `phonePlace` is where the phone's request came from.
   */
  async scan(token: string, phoneNumber: string, phonePlace: Place, phonePublicKey: string, now: number): Promise<Outcome<DeviceContext>> {
    const session = this.store.session();
    // A code session has no QR code to scan: it is found by its number's phone (code.ts).
    if (!session || session.state === "ended" || session.code) return failure("session_not_found", "no open pairing session with that id");
    if (session.state !== "pending" || !isLiveToken(this.parts.config, session.tokens, token, now)) {
      if (session.state === "pending") await this.wrongScan(session.tokens, now);
      return failure("invalid_token", "the code is not valid: it expired, was already used, or was mistyped");
    }
    this.store.scan(phoneNumber, phonePublicKey, now);
    this.parts.sockets.broadcast({ type: "scanned", phonePublicKey });
    await this.rearm();
    const { browser, os, place, ipPrefix, where } = session.device;
    return success({ browser, os, place, ipPrefix, qrCreatedAt: session.createdAt, ...comparePlaces(where, phonePlace) });
  }

  private async wrongScan(live: LiveTokens, now: number): Promise<void> {
    const current = onScreen(live, now);
    const decision = afterWrongScan(this.parts.config, this.store.countWrongScan(), current);
    if (decision === "end") return this.end("too_many_attempts");
    if (decision === "nothing" || !current) return;
    // Replaced at once, and without grace: the code being guessed at stops working, and so do the ones the browser holds.
    const replaced = replaceFrom(this.parts.config, current, now);
    this.store.replaceTokens(replaced);
    for (const message of this.tokenMessages(replaced)) this.parts.sockets.broadcast(message);
    await this.rearm();
  }

  /**
   * The phone that scanned confirms. `confirming` is written before the
   * Account is asked for a device slot, so a second confirm is refused, and a
   * call that fails is retried (by the phone or the outbox) until both agree.
   */
  async confirm(proof: LinkProof, now: number): Promise<Outcome<ConfirmResponse>> {
    const session = this.store.session();
    if (!session || session.state === "ended") return failure("session_not_found", "no open pairing session with that id");
    const retried = (session.state === "confirming" || session.state === "linked") && sameProof(session.proof, proof);
    if (session.state === "linked" && retried) return success({ ...session.proof.account, linkId: this.linkId() });
    if (session.state === "confirming" && !retried) return failure("wrong_state", "this session is already being confirmed");
    // The same confirm again while its call to the Account is under way: the phone sends it again and gets the answer.
    if (session.state === "confirming" && this.confirmInFlight) return failure("unavailable", "this confirmation is under way; send it again");
    // A code session links only once its browser verified the phone's confirmation for the code tried (code.ts).
    if (session.state === "scanned" && session.code?.checkedAt === null) return failure("wrong_state", "the computer has not checked this code yet");
    if (session.state === "scanned" && session.scannedBy === proof.account.number) {
      // The browser shows a number derived from the key committed at the scan: a confirm with another key links nothing.
      if (proof.phonePublicKey !== session.phonePublicKey) return failure("wrong_state", "this is not the key the phone sent when it scanned this code");
      this.store.beginConfirm(proof, now);
    } else if (!retried) return failure("wrong_state", "this session is not waiting for a confirmation from this phone");
    const outcome = await this.addDevice();
    // A removal owed by an end that came while the Account answered goes now, after the addition.
    if (this.store.session()?.state === "ended") await this.settle(Number.POSITIVE_INFINITY);
    return outcome;
  }

  /** Asks the Account for the device slot; links on yes, tells the browser and waits for another confirm on a refusal, retries on a failure. */
  private async addDevice(): Promise<Outcome<ConfirmResponse>> {
    const session = this.store.session();
    if (session?.state !== "confirming") return failure("wrong_state", "this session is not being confirmed");
    const now = Date.now();
    const device = { id: session.sessionId, name: `${session.device.browser} on ${session.device.os}`, place: session.device.place, linkedAt: now, lastActiveAt: now };
    let added: Outcome<null>;
    this.confirmInFlight = true;
    try {
      added = await this.parts.env.ACCOUNT.getByName(session.proof.account.number).addDevice(device);
    } catch (error) {
      console.error("addDevice failed; retried from the outbox", error);
      const entry = this.store.outbox().find((candidate) => candidate.kind === "add_device");
      if (entry) this.store.postpone(entry, now + retryDelayMs(entry.attempts));
      await this.rearm();
      return failure("unavailable", "the account did not answer; the link is retried, or confirm again");
    } finally {
      this.confirmInFlight = false;
    }
    const after = this.store.session();
    // Ended while the Account answered: its end owes the removal, which the caller's settle makes.
    if (after?.state !== "confirming") return failure("wrong_state", "this session changed while it was being confirmed");
    if (!added.ok) {
      this.store.backToScanned();
      // Persisted first: the browser is told why its scan waits again (the phone already is, by its answer).
      const { code: refusedCode, message } = added;
      const code = LINK_REFUSALS.find((refusal) => refusal === refusedCode);
      if (code) this.parts.sockets.announceTo("browser", { type: "refused", code, message });
      await this.rearm();
      return added;
    }
    this.store.link(Date.now());
    const { account, phonePublicKey, confirmation } = after.proof;
    const linkId = this.linkId();
    this.parts.sockets.broadcast({ type: "linked", account, phonePublicKey, confirmation, linkId });
    await this.rearm();
    return success({ ...account, linkId });
  }

  /**
   * The phone that scanned says no: the session ends and the browser starts a
   * fresh QR. With `wrong_number` the user picked a number the browser does
   * not show, and the browser is told so.
   */
  async reject(phoneNumber: string, reason?: "wrong_number"): Promise<Outcome<null>> {
    const session = this.store.session();
    if (!session || session.state === "ended") return failure("session_not_found", "no open pairing session with that id");
    if (session.state !== "scanned" || session.scannedBy !== phoneNumber) return failure("wrong_state", "this session is not waiting for a confirmation from this phone");
    await this.end(reason ?? "rejected");
    return success(null);
  }

  /** Persists the end, tells everyone why, closes with the reason's code; the storage goes once the Account is told. */
  async end(reason: EndReason): Promise<void> {
    const session = this.store.session();
    if (!session || session.state === "ended") return;
    const owesRemoval = session.state === "linked" || session.state === "confirming" ? session.proof.account.number : null;
    this.store.end(reason, owesRemoval, Date.now());
    this.parts.sockets.endAll({ type: "ended", reason }, CLOSE_CODES[reason], reason);
    await this.settle();
  }

  /**
   * Makes the calls the outbox owes (those due by `dueBy`), then deletes an
   * ended session's storage, or re-arms for what is left. One at a time: a
   * second caller waits for the first and then looks again. While a confirm
   * waits on the Account, the calls wait a second: they go after it.
   */
  settle(dueBy = Date.now()): Promise<void> {
    const run = (this.settling ?? Promise.resolve()).then(() => this.settleOnce(dueBy));
    this.settling = run.catch(() => {});
    return run;
  }

  private async settleOnce(dueBy: number): Promise<void> {
    const tried = new Set<string>();
    for (;;) {
      const now = Date.now();
      const entry = this.store.outbox().find((candidate) => candidate.dueAt <= dueBy && !tried.has(candidate.kind));
      if (!entry) break;
      tried.add(entry.kind);
      if (this.confirmInFlight) this.store.defer(entry, now + retryDelayMs(0));
      else if (entry.kind === "add_device") await this.addDevice();
      else await this.removeDevice(entry, now);
    }
    await this.rearm();
  }

  private async removeDevice(entry: OutboxEntry, now: number): Promise<void> {
    const session = this.store.session();
    if (!session) return;
    try {
      await this.parts.env.ACCOUNT.getByName(entry.accountNumber).removeDevice(session.sessionId);
      if (this.store.session()) this.store.removalMade();
    } catch (error) {
      console.error("removeDevice failed; retried from the outbox", error);
      this.store.postpone(entry, now + retryDelayMs(entry.attempts));
    }
  }

  /** Runs what is due; safe to run early or twice, since each step compares the clock with the state. */
  async runDeadlines(now: number): Promise<void> {
    for (const name of dueNow(this.deadlines(), now)) await this.run(name, now);
    await this.rearm();
  }

  private async run(name: DeadlineName, now: number): Promise<void> {
    const session = this.store.session();
    if (!session) return;
    if (name === "outbox") return this.settle();
    if (name === "expire" && session.state === "pending" && !session.code && now >= scheduleEnd(session.tokens)) return this.end("expired");
    if (name === "code" && session.state === "pending" && session.code && now >= session.code.expiresAt) return this.end("expired");
    if (name === "confirm" && (session.state === "scanned" || session.state === "confirming")) return this.end("expired");
    if (name === "challenge" && session.state === "linked") return void this.closeSilentSockets(now);
    if (name === "device_idle" && session.state === "linked") return this.end("inactive");
  }

  /**
   * A linked browser is in use (it came back, or sent a message): its last
   * activity moves, written at most once an hour, as the account's device
   * list shows it. The list lagging an hour is better than failing the
   * browser's message, so a failed call to the Account is only logged.
   */
  async browserActive(now: number): Promise<void> {
    const session = this.store.session();
    if (session?.state !== "linked" || now - session.browserActiveAt < ACTIVITY_RESOLUTION_MS) return;
    this.store.browserActive(now);
    await this.rearm();
    try {
      await this.parts.env.ACCOUNT.getByName(session.proof.account.number).touchDevice(session.sessionId, now);
    } catch (error) {
      console.error("touchDevice failed; the device list catches up at the next hour of use", error);
    }
  }

  /** Looks for silent sockets while the object is awake anyway, at most once a second so a burst of frames pays nothing. */
  noticeSilence(now: number): void {
    if (now - this.lastSilenceCheckAt < 1_000) return;
    this.closeSilentSockets(now);
  }

  /**
   * Closes sockets that went silent: a phone (shown offline), a browser, or a
   * resume that left its challenge unanswered. Run when the object is awake
   * (a message, an upgrade, a browser's presence check), and by the alarm only
   * for a challenge.
   */
  closeSilentSockets(now: number): boolean {
    this.lastSilenceCheckAt = now;
    let phoneWentOffline = false;
    for (const { ws, watch } of this.watched()) {
      if (now < silentAt(watch, this.parts.config)) continue;
      close(ws, CLOSE_CODES.heartbeat_timeout, watch.verified ? "no heartbeat" : "challenge not answered");
      phoneWentOffline ||= watch.role === "phone" && this.parts.sockets.of("phone").length === 0;
    }
    if (phoneWentOffline) this.parts.sockets.announceTo("browser", { type: "presence", phone: "offline" });
    return phoneWentOffline;
  }


  private watched() {
    return this.parts.sockets.watched((ws) => this.parts.allowances.get(ws)?.lastMessageAt ?? 0);
  }

  private deadlines() {
    const session = this.store.session();
    return deadlines(session, this.watched().map(({ watch }) => watch), session ? this.store.outbox() : [], this.parts.config);
  }

  /** Sets the one alarm to the earliest deadline, or clears it; an object with no state is not touched. */
  async rearm(): Promise<void> {
    const session = this.store.session();
    if (!session) return;
    // An ended session whose outbox is empty has nothing left to do: it goes.
    if (session.state === "ended" && this.store.outbox().length === 0) return this.store.wipe();
    const at = nextAlarm(this.deadlines());
    const current = await this.parts.ctx.storage.getAlarm();
    if (at === null) {
      if (current !== null) await this.parts.ctx.storage.deleteAlarm();
    } else if (current !== at) {
      await this.parts.ctx.storage.setAlarm(at);
    }
  }

  /**
   * The linked relay's address: this object's own id, which routes here
   * (`idFromString`) but cannot be derived from the session id without the
   * namespace's key, and is in no QR code.
   */
  linkId(): string {
    return this.parts.ctx.id.toString();
  }
}

function sameProof(a: LinkProof, b: LinkProof): boolean {
  return a.account.number === b.account.number && a.phonePublicKey === b.phonePublicKey && a.confirmation === b.confirmation;
}
