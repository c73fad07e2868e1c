// One PairingSession per QR session, addressed by its session id. It owns the
// browser's and the phone's hibernatable WebSockets, the rotating token (one
// alarm, re-armed by itself), the relay buffers and the session's state in
// SQLite. Every transition is written before it is announced.
import { DurableObject } from "cloudflare:workers";
import { ACTIVITY_RESOLUTION_MS, sessionConfig, type SessionConfig } from "../config";
import { UNKNOWN_PLACE, type Description } from "../device-context";
import { fromBase64url, importIdentityPublicKey, randomBase64url, verifyResume } from "../../shared/crypto";
import { failure, success, type Outcome } from "../outcome";
import { DEVICE_HEADER, PHONE_NUMBER_HEADER, SESSION_ID_HEADER, SOCKET_HEADER, type SocketKind } from "../forwarded-headers";
import {
  CLOSE_CODES,
  HEARTBEAT,
  LIMITS,
  RELAY_SUBPROTOCOL,
  credentialsFromSubprotocols,
  parseClientMessage,
  type AccountInfo,
  type ClientMessage,
  type DeviceContext,
  type Direction,
  type EndReason,
  type Presence,
  type ServerMessage,
  type SessionState,
} from "../../shared/protocol";


interface SessionRow {
  session_id: string;
  state: SessionState;
  created_at: number;
  device: string;
  token: string | null;
  token_seq: number;
  token_expires_at: number;
  previous_token: string | null;
  previous_expires_at: number | null;
  failed_scans: number;
  scanned_by: string | null;
  scanned_at: number | null;
  account_number: string | null;
  account_name: string | null;
  device_public_key: string | null;
  browser_active_at: number | null;
  to_browser_received: number;
  to_browser_delivered: number;
  to_phone_received: number;
  to_phone_delivered: number;
  to_browser_buffered_bytes: number;
  to_phone_buffered_bytes: number;
  [column: string]: SqlStorageValue;
}

/** A token as the session row holds it: the current one, and the previous one during its grace. */
interface Token {
  seq: number;
  token: string;
  expires_at: number;
}

/**
 * Kept on each socket so it survives hibernation. A browser socket is
 * `verified` when it opened the session or answered the resume challenge.
 */
type SocketAttachment = { role: "browser"; verified: boolean; nonce?: string; connectedAt: number } | { role: "phone"; connectedAt: number };
type Role = SocketAttachment["role"];

/** What a socket may still send: refilled at the configured rate, up to a burst of two seconds' worth. */
interface Allowance {
  messages: number;
  /** When the socket last sent a message (its heartbeats are answered by the runtime and tracked there). */
  lastMessageAt: number;
  /** Refusals before this time are not announced again: the socket was already told to wait until then. */
  quietUntil: number;
}

/** Which way a frame from this role travels. */
const OUTBOUND: Record<Role, Direction> = { browser: "to_phone", phone: "to_browser" };
const INBOUND: Record<Role, Direction> = { browser: "to_browser", phone: "to_phone" };
const RECEIVER: Record<Direction, Role> = { to_browser: "browser", to_phone: "phone" };

export class PairingSession extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly config: SessionConfig;
  /** Per socket, in memory: a socket that hibernated was quiet, and starts again with a full allowance. */
  private readonly allowances = new Map<WebSocket, Allowance>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.config = sessionConfig(env);
    this.createSchema();
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(HEARTBEAT.request, HEARTBEAT.response));
  }

  private createSchema(): void {
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS session (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        session_id TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        device TEXT NOT NULL,
        token TEXT,
        token_seq INTEGER NOT NULL DEFAULT 0,
        token_expires_at INTEGER NOT NULL DEFAULT 0,
        previous_token TEXT,
        previous_expires_at INTEGER,
        failed_scans INTEGER NOT NULL DEFAULT 0,
        scanned_by TEXT,
        scanned_at INTEGER,
        account_number TEXT,
        account_name TEXT,
        phone_public_key TEXT,
        confirmation TEXT,
        device_public_key TEXT,
        to_browser_received INTEGER NOT NULL DEFAULT 0,
        to_browser_delivered INTEGER NOT NULL DEFAULT 0,
        to_phone_received INTEGER NOT NULL DEFAULT 0,
        to_phone_delivered INTEGER NOT NULL DEFAULT 0,
        browser_active_at INTEGER,
        to_browser_buffered_bytes INTEGER NOT NULL DEFAULT 0,
        to_phone_buffered_bytes INTEGER NOT NULL DEFAULT 0,
        end_reason TEXT
      );
      CREATE TABLE IF NOT EXISTS frame (
        direction TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (direction, seq)
      ) WITHOUT ROWID;
    `);
  }

  /** WebSocket upgrades forwarded by the Worker: a new session, a browser resuming, or the phone's relay. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade") !== "websocket") return new Response("expected a WebSocket upgrade", { status: 400 });
    if (this.ctx.getWebSockets().length >= LIMITS.socketsPerSession) {
      return this.refuse(CLOSE_CODES.too_many_sockets, "too many connections to this session");
    }
    const kind = request.headers.get(SOCKET_HEADER) as SocketKind | null;
    if (kind === "open") return this.openSession(request);
    if (kind === "resume") return this.acceptResume();
    if (kind === "phone") return this.acceptPhone(request);
    return new Response("unknown socket kind", { status: 400 });
  }

  private async openSession(request: Request): Promise<Response> {
    const sessionId = request.headers.get(SESSION_ID_HEADER);
    const device = request.headers.get(DEVICE_HEADER);
    if (!sessionId || !device || this.session()) return new Response("cannot open this session", { status: 409 });

    const now = Date.now();
    const server = this.accept("browser", { role: "browser", verified: true, connectedAt: now });
    const first = { seq: 0, token: randomBase64url(16), expires_at: now + this.config.firstTokenTtlMs };
    this.sql.exec(
      "INSERT INTO session (id, session_id, state, created_at, device, token, token_seq, token_expires_at) VALUES (1, ?, 'pending', ?, ?, ?, ?, ?)",
      sessionId,
      now,
      device,
      first.token,
      first.seq,
      first.expires_at,
    );
    await this.ctx.storage.setAlarm(first.expires_at);

    this.send(server.socket, { type: "session", sessionId, createdAt: now });
    this.send(server.socket, this.tokenMessage(first));
    return server.response;
  }

  /** A reloaded browser: it gets a challenge, and nothing else until it signs it (in time) with its device key. */
  private async acceptResume(): Promise<Response> {
    const session = this.session();
    if (session?.state !== "linked" || !session.device_public_key) return this.refuse(CLOSE_CODES.unknown_session, "no linked session to resume");
    const nonce = randomBase64url(32);
    const now = Date.now();
    const server = this.accept("browser", { role: "browser", verified: false, nonce, connectedAt: now });
    await this.armNoLaterThan(now + this.config.challengeTimeoutMs);
    this.send(server.socket, { type: "challenge", nonce });
    return server.response;
  }

  /** The linked phone's relay socket; a newer one replaces an older one. */
  private async acceptPhone(request: Request): Promise<Response> {
    const phoneNumber = request.headers.get(PHONE_NUMBER_HEADER) ?? "";
    // A phone page signs with subprotocols; its browser needs ours echoed to open the socket.
    const subprotocol = credentialsFromSubprotocols(request.headers.get("sec-websocket-protocol") ?? undefined) ? RELAY_SUBPROTOCOL : undefined;
    const session = this.session();
    if (session?.state !== "linked" || session.account_number !== phoneNumber) {
      return this.refuse(CLOSE_CODES.unknown_session, "this phone has no linked session here", subprotocol);
    }
    const wasOnline = this.presence() === "online";
    for (const old of this.sockets("phone")) old.close(CLOSE_CODES.replaced, "replaced by a newer connection");
    const now = Date.now();
    const server = this.accept("phone", { role: "phone", connectedAt: now }, subprotocol);
    await this.armNoLaterThan(now + this.config.phoneOfflineMs);
    this.startRelay(server.socket, session, "phone");
    if (!wasOnline) this.broadcastTo("browser", { type: "presence", phone: "online" });
    return server.response;
  }

  /** Rotates the token on schedule, ends an unconfirmed scan, and closes silent sockets. Safe to run twice or early. */
  override async alarm(): Promise<void> {
    const session = this.session();
    if (!session) return;
    const now = Date.now();
    if (session.state === "pending") {
      const current = { seq: session.token_seq, token: session.token ?? "", expires_at: session.token_expires_at };
      if (now < current.expires_at) return this.ctx.storage.setAlarm(current.expires_at);
      if (current.seq + 1 >= this.config.tokenCount) return this.end("expired");
      // Persisted, announced, then re-armed: a run that fails at any step is
      // retried and finds either the old token due or the new one already shown.
      const next = this.issueToken(current, now);
      this.broadcast(this.tokenMessage(next));
      await this.ctx.storage.setAlarm(next.expires_at);
    } else if (session.state === "scanned") {
      const deadline = (session.scanned_at ?? now) + this.config.confirmTimeoutMs;
      if (now < deadline) return this.ctx.storage.setAlarm(deadline);
      await this.end("expired");
    } else if (session.state === "linked") {
      const idleUntil = (session.browser_active_at ?? now) + this.config.deviceIdleMs;
      if (now >= idleUntil) return this.end("inactive");
      await this.ctx.storage.setAlarm(Math.min(idleUntil, this.closeSilentSockets(now) ?? idleUntil));
    } else {
      await this.wipe();
    }
  }

  /** A phone scanned the QR: spends the token and tells the browser at once. `phonePlace` is where the phone's request came from. */
  async inspect(token: string, phoneNumber: string, phonePlace: string): Promise<Outcome<DeviceContext>> {
    const session = this.session();
    if (!session) return failure("session_not_found", "no open pairing session with that id");
    if (session.state !== "pending" || !this.isLiveToken(session, token)) {
      if (session.state === "pending") await this.failedScan(session);
      return failure("invalid_token", "the code is not valid: it expired, was already used, or was mistyped");
    }
    const now = Date.now();
    // Spending the token clears both: a code is good for one scan.
    this.sql.exec("UPDATE session SET state = 'scanned', scanned_by = ?, scanned_at = ?, token = NULL, previous_token = NULL WHERE id = 1", phoneNumber, now);
    await this.ctx.storage.setAlarm(now + this.config.confirmTimeoutMs);
    this.broadcast({ type: "scanned" });
    const browser = JSON.parse(session.device) as Description;
    const placeMismatch = browser.place !== UNKNOWN_PLACE && phonePlace !== UNKNOWN_PLACE && browser.place !== phonePlace;
    return success({ ...browser, qrCreatedAt: session.created_at, placeMismatch });
  }

  /** The phone that scanned confirms, with its key-agreement half and its MAC over the transcript. */
  async confirm(account: AccountInfo, phonePublicKey: string, confirmation: string): Promise<Outcome<AccountInfo>> {
    const scanned = this.scannedBy(account.number);
    if (!scanned.ok) return scanned;
    const now = Date.now();
    const browser = JSON.parse(scanned.value.device) as Description;
    const accountObject = this.env.ACCOUNT.getByName(account.number);
    const device = { id: scanned.value.session_id, name: `${browser.browser} on ${browser.os}`, place: browser.place, linkedAt: now, lastActiveAt: now };
    const added = await accountObject.addDevice(device);
    if (!added.ok) return added;
    // Other events may have run while the account answered: link only if still waiting for this phone.
    if (!this.scannedBy(account.number).ok) {
      await accountObject.removeDevice(device.id);
      return failure("wrong_state", "this session changed while it was being confirmed");
    }
    this.sql.exec(
      "UPDATE session SET state = 'linked', account_number = ?, account_name = ?, phone_public_key = ?, confirmation = ?, browser_active_at = ? WHERE id = 1",
      account.number,
      account.name,
      phonePublicKey,
      confirmation,
      now,
    );
    // The alarm now watches for an idle device and for silent sockets, whichever is due first.
    await this.ctx.storage.setAlarm(now + Math.min(this.config.deviceIdleMs, this.config.socketIdleMs));
    this.broadcast({ type: "linked", account, phonePublicKey, confirmation });
    return success(account);
  }

  /** The account ends this link: the phone revoked it, or the phone has been away too long. */
  async endLink(reason: "revoked" | "inactive"): Promise<void> {
    if (this.session()?.state === "linked") await this.end(reason);
  }

  /** The phone that scanned says no: the session ends and the browser starts a fresh QR. */
  async reject(phoneNumber: string): Promise<Outcome<null>> {
    const scanned = this.scannedBy(phoneNumber);
    if (!scanned.ok) return scanned;
    await this.end("rejected");
    return success(null);
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    // Counted before anything is parsed, so a flood costs as little as possible.
    if (!this.allowMessage(ws)) return;
    const size = typeof raw === "string" ? raw.length : raw.byteLength;
    if (size > LIMITS.relayMessageBytes) return ws.close(CLOSE_CODES.message_too_large, "message too large");
    const message = parseClientMessage(raw);
    if (!message) return ws.close(CLOSE_CODES.bad_message, "malformed message");
    await this.handle(ws, ws.deserializeAttachment() as SocketAttachment, message);
  }

  /** Where each client message is handled; a message the socket's role may not send closes it. */
  private async handle(ws: WebSocket, attachment: SocketAttachment, message: ClientMessage): Promise<void> {
    const session = this.session();
    if (!session) return ws.close(CLOSE_CODES.unknown_session, "session gone");
    const browser = attachment.role === "browser" ? attachment : null;
    const ready = attachment.role === "phone" || (browser?.verified === true && session.device_public_key !== null);

    switch (message.type) {
      case "key_mismatch":
        if (browser?.verified && session.state === "linked" && !session.device_public_key) return this.end("key_mismatch");
        break;
      case "link_ack":
        if (browser?.verified && session.state === "linked" && !session.device_public_key) {
          this.sql.exec("UPDATE session SET device_public_key = ? WHERE id = 1", message.devicePublicKey);
          return this.startRelay(ws, { ...session, device_public_key: message.devicePublicKey }, "browser");
        }
        break;
      case "resume":
        if (browser && !browser.verified && browser.nonce) return this.resume(ws, session, browser.nonce, message.signature);
        break;
      case "logout":
        if (ready && browser) return this.end("logged_out");
        break;
      case "frame":
        if (ready) return this.receiveFrame(ws, session, OUTBOUND[attachment.role], message.seq, message.data);
        return this.send(ws, { type: "error", code: "not_ready", message: "the relay is not open on this socket yet" });
      case "ack":
        if (ready) return this.acknowledge(session, INBOUND[attachment.role], message.seq);
        break;
    }
    ws.close(CLOSE_CODES.bad_message, `${message.type} is not expected now`);
  }

  private async resume(ws: WebSocket, session: SessionRow, nonce: string, signature: string): Promise<void> {
    const key = session.device_public_key ? await importIdentityPublicKey(session.device_public_key) : null;
    if (!key || !(await verifyResume(key, session.session_id, nonce, signature))) {
      return ws.close(CLOSE_CODES.resume_refused, "the resume signature does not verify");
    }
    for (const other of this.sockets("browser")) if (other !== ws) other.close(CLOSE_CODES.replaced, "replaced by a newer connection");
    const now = Date.now();
    ws.serializeAttachment({ role: "browser", verified: true, connectedAt: now } satisfies SocketAttachment);
    await this.armNoLaterThan(now + this.config.socketIdleMs);
    this.startRelay(ws, session, "browser");
    await this.browserActive(session);
  }

  /** The browser came back: it is not idle. Written at most once an hour, as the account's list is. */
  private async browserActive(session: SessionRow): Promise<void> {
    const now = Date.now();
    if (now - (session.browser_active_at ?? 0) < ACTIVITY_RESOLUTION_MS) return;
    this.sql.exec("UPDATE session SET browser_active_at = ? WHERE id = 1", now);
    await this.armNoLaterThan(now + this.config.deviceIdleMs);
    if (session.account_number) await this.env.ACCOUNT.getByName(session.account_number).touchDevice(session.session_id, now);
  }

  /** Tells the socket where the relay stands, then sends it every frame it has not acknowledged, in order. */
  private startRelay(ws: WebSocket, session: SessionRow, role: Role): void {
    const outbound = OUTBOUND[role];
    this.send(ws, {
      type: "ready",
      sessionId: session.session_id,
      account: { number: session.account_number ?? "", name: session.account_name ?? "" },
      received: session[`${outbound}_received`],
      delivered: session[`${outbound}_delivered`],
      phone: this.presence(),
    });
    const inbound = INBOUND[role];
    const pending = this.sql.exec<{ seq: number; data: string }>(
      "SELECT seq, data FROM frame WHERE direction = ? AND seq <= ? ORDER BY seq",
      inbound,
      session[`${inbound}_received`],
    );
    for (const frame of pending) this.send(ws, { type: "frame", seq: frame.seq, data: frame.data });
  }

  /**
   * Stores a frame and advances over the run of frames now in order: a burst
   * that reaches the object out of order is put back in order, a repeat is
   * acknowledged again. Only frames in order are forwarded, and acknowledged.
   */
  private receiveFrame(ws: WebSocket, session: SessionRow, direction: Direction, seq: number, data: string): void {
    const received = session[`${direction}_received`];
    if (seq <= received) return this.send(ws, { type: "stored", seq: received });
    if (seq > received + LIMITS.bufferFrames) {
      return this.send(ws, { type: "error", code: "out_of_order", message: `expected frame ${received + 1}, got ${seq}`, expected: received + 1 });
    }
    // Counted from the session row: summing the buffer itself would read every waiting frame, on every frame.
    const waiting = received - session[`${direction}_delivered`];
    const bytes = session[`${direction}_buffered_bytes`];
    if (waiting >= LIMITS.bufferFrames || bytes + data.length > LIMITS.bufferBytes) {
      return this.send(ws, { type: "error", code: "buffer_full", message: `the other side is away and ${waiting} frames are waiting; try again later` });
    }
    let inOrder = received;
    const forward: { seq: number; data: string }[] = [];
    this.ctx.storage.transactionSync(() => {
      const inserted = this.sql.exec("INSERT OR IGNORE INTO frame (direction, seq, data) VALUES (?, ?, ?)", direction, seq, data).rowsWritten > 0;
      for (const row of this.sql.exec<{ seq: number; data: string }>("SELECT seq, data FROM frame WHERE direction = ? AND seq > ? ORDER BY seq", direction, received)) {
        if (row.seq !== inOrder + 1) break;
        inOrder = row.seq;
        forward.push(row);
      }
      this.sql.exec(
        `UPDATE session SET ${direction}_received = ?, ${direction}_buffered_bytes = ${direction}_buffered_bytes + ? WHERE id = 1`,
        inOrder,
        inserted ? data.length : 0,
      );
    });
    if (inOrder === received) return;
    this.send(ws, { type: "stored", seq: inOrder });
    for (const receiver of this.readySockets(RECEIVER[direction], session)) {
      for (const frame of forward) this.send(receiver, { type: "frame", seq: frame.seq, data: frame.data });
    }
  }

  /** The receiver has processed everything up to `seq`: drop it from the buffer and tell the sender. */
  private acknowledge(session: SessionRow, direction: Direction, seq: number): void {
    if (seq <= session[`${direction}_delivered`] || seq > session[`${direction}_received`]) return;
    this.ctx.storage.transactionSync(() => {
      let freed = 0;
      for (const row of this.sql.exec<{ bytes: number }>("DELETE FROM frame WHERE direction = ? AND seq <= ? RETURNING length(data) AS bytes", direction, seq)) freed += row.bytes;
      this.sql.exec(`UPDATE session SET ${direction}_delivered = ?, ${direction}_buffered_bytes = ${direction}_buffered_bytes - ? WHERE id = 1`, seq, freed);
    });
    const sender: Role = direction === "to_browser" ? "phone" : "browser";
    for (const socket of this.readySockets(sender, session)) this.send(socket, { type: "delivered", seq });
  }

  /**
   * A tab that goes away before linking leaves nothing behind, nor does one
   * that goes before registering its device key (nothing could resume that
   * link, and it would hold one of the account's device slots). A phone that
   * goes away is offline.
   */
  override async webSocketClose(ws: WebSocket): Promise<void> {
    this.allowances.delete(ws);
    const attachment = ws.deserializeAttachment() as SocketAttachment | null;
    const others = (role: Role) => this.sockets(role).filter((socket) => socket !== ws);
    if (attachment?.role === "phone") {
      if (others("phone").length === 0) this.broadcastTo("browser", { type: "presence", phone: "offline" });
      return;
    }
    const session = this.session();
    if (!session || others("browser").length > 0) return;
    if (session.state !== "linked") await this.wipe();
    else if (!session.device_public_key) await this.end("expired");
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws);
  }

  // -------------------------------------------------------------------------

  private session(): SessionRow | null {
    return this.sql.exec<SessionRow>("SELECT * FROM session WHERE id = 1").toArray()[0] ?? null;
  }

  /**
   * Someone is guessing: after a few wrong scans the code on screen is
   * replaced at once (no grace for the old one), after more the session ends.
   */
  private async failedScan(session: SessionRow): Promise<void> {
    const failed = session.failed_scans + 1;
    this.sql.exec("UPDATE session SET failed_scans = ? WHERE id = 1", failed);
    const lastToken = session.token_seq + 1 >= this.config.tokenCount;
    if (failed >= LIMITS.failedScansBeforeEnd || (failed === LIMITS.failedScansBeforeRotation && lastToken)) return this.end("too_many_attempts");
    if (failed !== LIMITS.failedScansBeforeRotation) return;
    const now = Date.now();
    const next = this.issueToken({ seq: session.token_seq, token: session.token ?? "", expires_at: now }, now, { grace: false });
    this.broadcast(this.tokenMessage(next));
    await this.ctx.storage.setAlarm(next.expires_at);
  }

  /** Writes the next token, keeping the previous one for its grace period unless `grace` is false. */
  private issueToken(current: Token, now: number, { grace = true } = {}): Token {
    // Anchored to the schedule, so a late alarm shortens one token instead of shifting all of them.
    const scheduled = current.expires_at + this.config.tokenTtlMs;
    const next: Token = { seq: current.seq + 1, token: randomBase64url(16), expires_at: scheduled > now ? scheduled : now + this.config.tokenTtlMs };
    this.sql.exec(
      "UPDATE session SET previous_token = ?, previous_expires_at = token_expires_at, token = ?, token_seq = ?, token_expires_at = ? WHERE id = 1",
      grace ? current.token : null,
      next.token,
      next.seq,
      next.expires_at,
    );
    return next;
  }

  /**
   * Compares with both live tokens in constant time. The previous token lives
   * `graceMs` past its rotation; so does the current one while its rotation is
   * due, except the last, whose expiry ends the session.
   */
  private isLiveToken(session: SessionRow, candidate: string): boolean {
    const candidateBytes = fromBase64url(candidate);
    if (!candidateBytes) return false;
    const now = Date.now();
    const currentGrace = session.token_seq < this.config.tokenCount - 1 ? this.config.graceMs : 0;
    const live = [
      { token: session.token, acceptedUntil: session.token_expires_at + currentGrace },
      { token: session.previous_token, acceptedUntil: (session.previous_expires_at ?? 0) + this.config.graceMs },
    ];
    let match = false;
    for (const { token, acceptedUntil } of live) {
      const bytes = token ? fromBase64url(token) : null;
      const equal = bytes !== null && bytes.length === candidateBytes.length && crypto.subtle.timingSafeEqual(bytes, candidateBytes);
      if (equal && now < acceptedUntil) match = true;
    }
    return match;
  }

  private scannedBy(phoneNumber: string): Outcome<SessionRow> {
    const session = this.session();
    if (!session) return failure("session_not_found", "no open pairing session with that id");
    if (session.state !== "scanned" || session.scanned_by !== phoneNumber) {
      return failure("wrong_state", "this session is not waiting for a confirmation from this phone");
    }
    return success(session);
  }

  private tokenMessage(token: Token): ServerMessage {
    return { type: "token", token: token.token, seq: token.seq, count: this.config.tokenCount, expiresAt: token.expires_at };
  }

  /** The alarm is shared: never push it later than a deadline already set. */
  private async armNoLaterThan(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /**
   * Counts a message against the socket's allowance. Over it, the message is
   * dropped unstored and the socket told when to try again, once per wait.
   */
  private allowMessage(ws: WebSocket): boolean {
    const now = Date.now();
    const rate = this.config.socketMessagesPerSecond;
    const allowance = this.allowances.get(ws) ?? { messages: 2 * rate, lastMessageAt: now, quietUntil: 0 };
    allowance.messages = Math.min(2 * rate, allowance.messages + ((now - allowance.lastMessageAt) * rate) / 1000);
    allowance.lastMessageAt = now;
    this.allowances.set(ws, allowance);
    if (allowance.messages >= 1) {
      allowance.messages -= 1;
      return true;
    }
    if (now >= allowance.quietUntil) {
      const retryAfterMs = Math.ceil(((1 - allowance.messages) * 1000) / rate);
      allowance.quietUntil = now + retryAfterMs;
      this.send(ws, { type: "error", code: "rate_limited", message: `at most ${rate} messages a second; send again in ${retryAfterMs} ms`, retryAfterMs });
    }
    return false;
  }

  /**
   * Closes sockets that went silent (no message, no heartbeat): a phone after
   * `phoneOfflineMs`, shown offline; a browser after `socketIdleMs`, or after
   * `challengeTimeoutMs` while it has not answered its resume challenge.
   * Returns when to look again, or null with no socket left to watch.
   */
  private closeSilentSockets(now: number): number | null {
    let next: number | null = null;
    for (const ws of [...this.sockets("phone"), ...this.sockets("browser")]) {
      const attachment = ws.deserializeAttachment() as SocketAttachment;
      const lastPing = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      const lastSeen = Math.max(lastPing, this.allowances.get(ws)?.lastMessageAt ?? 0, attachment.connectedAt);
      const deadline =
        attachment.role === "phone"
          ? lastSeen + this.config.phoneOfflineMs
          : attachment.verified
            ? lastSeen + this.config.socketIdleMs
            : attachment.connectedAt + this.config.challengeTimeoutMs;
      if (now < deadline) {
        next = Math.min(next ?? deadline, deadline);
        continue;
      }
      ws.close(CLOSE_CODES.heartbeat_timeout, attachment.role === "browser" && !attachment.verified ? "challenge not answered" : "no heartbeat");
      if (attachment.role === "phone") this.broadcastTo("browser", { type: "presence", phone: "offline" });
    }
    return next;
  }

  private presence(): Presence {
    return this.sockets("phone").length > 0 ? "online" : "offline";
  }

  /** Persists the end, tells everyone why, closes with the reason's code, then deletes everything. */
  private async end(reason: EndReason): Promise<void> {
    const session = this.session();
    this.sql.exec("UPDATE session SET state = 'ended', end_reason = ? WHERE id = 1", reason);
    this.broadcast({ type: "ended", reason });
    for (const ws of this.ctx.getWebSockets()) ws.close(CLOSE_CODES[reason], reason);
    if (session?.state === "linked" && session.account_number) {
      await this.env.ACCOUNT.getByName(session.account_number).removeDevice(session.session_id);
    }
    await this.wipe();
  }

  /** Deletes the whole database; the empty schema is laid again so a late request finds no session. */
  private async wipe(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.createSchema();
  }

  private accept(role: Role, attachment: SocketAttachment, subprotocol?: string): { socket: WebSocket; response: Response } {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [role]);
    server.serializeAttachment(attachment);
    const headers = subprotocol ? { "sec-websocket-protocol": subprotocol } : undefined;
    return { socket: server, response: new Response(null, { status: 101, webSocket: client, headers }) };
  }

  /** Completes the upgrade only to close it with a code, which a browser can read (a failed upgrade it cannot). */
  private refuse(code: number, reason: string, subprotocol?: string): Response {
    const { 0: client, 1: server } = new WebSocketPair();
    server.accept();
    server.close(code, reason);
    const headers = subprotocol ? { "sec-websocket-protocol": subprotocol } : undefined;
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  private sockets(role: Role): WebSocket[] {
    return this.ctx.getWebSockets(role).filter((ws) => ws.readyState === WebSocket.OPEN);
  }

  /** Sockets the relay may send frames to: the phone, or a browser that is verified and has registered its device key. */
  private readySockets(role: Role, session: SessionRow): WebSocket[] {
    if (role === "phone") return this.sockets("phone");
    if (!session.device_public_key) return [];
    return this.sockets("browser").filter((ws) => (ws.deserializeAttachment() as SocketAttachment & { role: "browser" }).verified);
  }

  private send(ws: WebSocket, message: ServerMessage): void {
    try {
      ws.send(JSON.stringify(message));
    } catch {
      // A socket closing under us; the close handler does the bookkeeping.
    }
  }

  private broadcast(message: ServerMessage): void {
    for (const ws of this.ctx.getWebSockets()) this.send(ws, message);
  }

  private broadcastTo(role: Role, message: ServerMessage): void {
    for (const ws of this.sockets(role)) {
      const attachment = ws.deserializeAttachment() as SocketAttachment;
      if (attachment.role === "phone" || attachment.verified) this.send(ws, message);
    }
  }
}
