// One PairingSession per QR session, addressed by its session id. It owns the
// browser's hibernatable WebSocket, the rotating token (one alarm, re-armed by
// itself) and the session's state in SQLite. Every transition is written
// before it is announced.
import { DurableObject } from "cloudflare:workers";
import { sessionConfig, type SessionConfig } from "./config";
import { fromBase64url, randomBase64url } from "./crypto";
import { failure, success, type Outcome } from "./outcome";
import {
  CLOSE_CODES,
  LIMITS,
  browserMessageSchema,
  type Account,
  type DeviceContext,
  type EndReason,
  type ServerMessage,
  type SessionState,
} from "./protocol";

/** Headers the Worker sets on the upgrade request it forwards here. */
export const SESSION_ID_HEADER = "x-qrl-session-id";
export const DEVICE_HEADER = "x-qrl-device";

interface SessionRow {
  session_id: string;
  state: SessionState;
  created_at: number;
  device: string;
  scanned_by: string | null;
  scanned_at: number | null;
  [column: string]: SqlStorageValue;
}

interface TokenRow {
  seq: number;
  token: string;
  expires_at: number;
  used: number;
  [column: string]: SqlStorageValue;
}

interface SocketAttachment {
  role: "browser";
}

export class PairingSession extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly config: SessionConfig;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.config = sessionConfig(env);
    this.createSchema();
  }

  private createSchema(): void {
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS session (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        session_id TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        device TEXT NOT NULL,
        scanned_by TEXT,
        scanned_at INTEGER,
        account_number TEXT,
        account_name TEXT,
        phone_public_key TEXT,
        confirmation TEXT,
        end_reason TEXT
      );
      CREATE TABLE IF NOT EXISTS token (
        seq INTEGER PRIMARY KEY,
        token TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
      );
    `);
  }

  /** The browser's WebSocket upgrade, forwarded by the Worker: opens the session. */
  override async fetch(request: Request): Promise<Response> {
    const sessionId = request.headers.get(SESSION_ID_HEADER);
    const device = request.headers.get(DEVICE_HEADER);
    if (!sessionId || !device || request.headers.get("upgrade") !== "websocket") {
      return new Response("expected a WebSocket upgrade from the Worker", { status: 400 });
    }
    if (this.session()) return Response.json({ error: { code: "wrong_state", message: "session already open" } }, { status: 409 });

    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ role: "browser" } satisfies SocketAttachment);

    const now = Date.now();
    const first = { seq: 0, token: randomBase64url(16), expires_at: now + this.config.firstTokenTtlMs };
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT INTO session (id, session_id, state, created_at, device) VALUES (1, ?, 'pending', ?, ?)", sessionId, now, device);
      this.sql.exec("INSERT INTO token (seq, token, expires_at) VALUES (?, ?, ?)", first.seq, first.token, first.expires_at);
    });
    await this.ctx.storage.setAlarm(first.expires_at);

    this.send(server, { type: "session", sessionId, createdAt: now });
    this.send(server, this.tokenMessage(first));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Rotates the token on schedule, ends an unconfirmed scan, and cleans up. Safe to run twice or early. */
  override async alarm(): Promise<void> {
    const session = this.session();
    if (!session) return;
    const now = Date.now();
    if (session.state === "pending") {
      const current = this.currentToken();
      if (!current) return;
      if (now < current.expires_at) return this.ctx.storage.setAlarm(current.expires_at);
      if (current.seq + 1 >= this.config.tokenCount) return this.end("expired");
      const next = this.issueToken(current, now);
      await this.ctx.storage.setAlarm(next.expires_at);
      this.broadcast(this.tokenMessage(next));
    } else if (session.state === "scanned") {
      const deadline = (session.scanned_at ?? now) + this.config.confirmTimeoutMs;
      if (now < deadline) return this.ctx.storage.setAlarm(deadline);
      await this.end("expired");
    } else if (session.state === "ended") {
      await this.wipe();
    }
  }

  /** A phone scanned the QR: spends the token and tells the browser at once. */
  async inspect(token: string, phoneNumber: string): Promise<Outcome<DeviceContext>> {
    const session = this.session();
    if (!session) return failure("session_not_found", "no open pairing session with that id");
    const match = session.state === "pending" ? await this.findLiveToken(token) : null;
    if (!match) return failure("invalid_token", "the code is not valid: it expired, was already used, or was mistyped");

    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("UPDATE token SET used = 1 WHERE seq = ?", match.seq);
      this.sql.exec("DELETE FROM token WHERE seq <> ?", match.seq);
      this.sql.exec("UPDATE session SET state = 'scanned', scanned_by = ?, scanned_at = ? WHERE id = 1", phoneNumber, now);
    });
    await this.ctx.storage.setAlarm(now + this.config.confirmTimeoutMs);
    this.broadcast({ type: "scanned" });
    return success({ ...(JSON.parse(session.device) as Omit<DeviceContext, "qrCreatedAt">), qrCreatedAt: session.created_at });
  }

  /** The phone that scanned confirms, with its key-agreement half and its MAC over the transcript. */
  async confirm(account: Account, phonePublicKey: string, confirmation: string): Promise<Outcome<Account>> {
    const scanned = this.scannedBy(account.number);
    if (!scanned.ok) return scanned;
    this.sql.exec(
      "UPDATE session SET state = 'linked', account_number = ?, account_name = ?, phone_public_key = ?, confirmation = ? WHERE id = 1",
      account.number,
      account.name,
      phonePublicKey,
      confirmation,
    );
    await this.ctx.storage.deleteAlarm();
    this.broadcast({ type: "linked", account, phonePublicKey, confirmation });
    return success(account);
  }

  /** The phone that scanned says no: the session ends and the browser starts a fresh QR. */
  async reject(phoneNumber: string): Promise<Outcome<null>> {
    const scanned = this.scannedBy(phoneNumber);
    if (!scanned.ok) return scanned;
    await this.end("rejected");
    return success(null);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const size = typeof message === "string" ? message.length : message.byteLength;
    if (size > LIMITS.browserMessageBytes) return ws.close(CLOSE_CODES.message_too_large, "message too large");
    let parsed: unknown;
    try {
      parsed = typeof message === "string" ? JSON.parse(message) : null;
    } catch {
      parsed = null;
    }
    const result = browserMessageSchema.safeParse(parsed);
    if (!result.success) return ws.close(CLOSE_CODES.bad_message, "malformed message");
    if (result.data.type === "key_mismatch" && this.session()?.state === "linked") await this.end("key_mismatch");
  }

  /** A tab that goes away before linking leaves nothing behind. */
  override async webSocketClose(ws: WebSocket): Promise<void> {
    const session = this.session();
    const othersOpen = this.ctx.getWebSockets().some((socket) => socket !== ws && socket.readyState === WebSocket.OPEN);
    if (session && session.state !== "linked" && !othersOpen) await this.wipe();
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws);
  }

  // -------------------------------------------------------------------------

  private session(): SessionRow | null {
    return this.sql.exec<SessionRow>("SELECT session_id, state, created_at, device, scanned_by, scanned_at FROM session WHERE id = 1").toArray()[0] ?? null;
  }

  private currentToken(): TokenRow | null {
    return this.sql.exec<TokenRow>("SELECT seq, token, expires_at, used FROM token ORDER BY seq DESC LIMIT 1").toArray()[0] ?? null;
  }

  /** Writes the next token and keeps the previous one for its grace period. */
  private issueToken(current: TokenRow, now: number): TokenRow {
    // Anchored to the schedule, so a late alarm shortens one token instead of shifting all of them.
    const scheduled = current.expires_at + this.config.tokenTtlMs;
    const next: TokenRow = { seq: current.seq + 1, token: randomBase64url(16), expires_at: scheduled > now ? scheduled : now + this.config.tokenTtlMs, used: 0 };
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT INTO token (seq, token, expires_at) VALUES (?, ?, ?)", next.seq, next.token, next.expires_at);
      this.sql.exec("DELETE FROM token WHERE seq < ?", current.seq);
    });
    return next;
  }

  /** Compares against every live token in constant time; the previous token lives `graceMs` past its rotation. */
  private async findLiveToken(candidate: string): Promise<TokenRow | null> {
    const candidateBytes = fromBase64url(candidate);
    if (!candidateBytes) return null;
    const now = Date.now();
    const lastSeq = this.config.tokenCount - 1;
    let match: TokenRow | null = null;
    for (const row of this.sql.exec<TokenRow>("SELECT seq, token, expires_at, used FROM token").toArray()) {
      const rowBytes = fromBase64url(row.token);
      const equal = rowBytes !== null && rowBytes.length === candidateBytes.length && crypto.subtle.timingSafeEqual(rowBytes, candidateBytes);
      const acceptedUntil = row.expires_at + (row.seq < lastSeq ? this.config.graceMs : 0);
      if (equal && row.used === 0 && now < acceptedUntil) match = row;
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

  private tokenMessage(token: Pick<TokenRow, "seq" | "token" | "expires_at">): ServerMessage {
    return { type: "token", token: token.token, seq: token.seq, count: this.config.tokenCount, expiresAt: token.expires_at };
  }

  /** Persists the end, tells the browser why, closes with the reason's code, then deletes everything. */
  private async end(reason: EndReason): Promise<void> {
    this.sql.exec("UPDATE session SET state = 'ended', end_reason = ? WHERE id = 1", reason);
    this.broadcast({ type: "ended", reason });
    for (const ws of this.ctx.getWebSockets()) ws.close(CLOSE_CODES[reason], reason);
    await this.wipe();
  }

  /** Deletes the whole database; the empty schema is laid again so a late request finds no session. */
  private async wipe(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.createSchema();
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
}
