// The session's state, read as one shape per state and changed only through
// the transitions below. A QR session waiting for its scan keeps its state on
// its browser's socket (the attachment, which survives hibernation and goes
// with the tab): it has no tables, and its object's database stays empty.
// From the scan on, the state is in SQLite, created in one step. Nothing is
// created until a browser opens the session: an object that is only asked
// about keeps no database.
import type { EndReason } from "../../shared/protocol";
import { createFresh, hasState, migrate } from "../migrations";
import { SESSION_MIGRATIONS, SESSION_SCHEMA } from "./schema";
import type { CodeRequest, Description, LinkProof, Opened, OutboxEntry, OutboxKind, PendingSession, Session } from "./session";
import type { LiveTokens, Token } from "./tokens";

interface SessionRow extends Record<string, SqlStorageValue> {
  session_id: string;
  state: Session["state"];
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
  phone_public_key: string | null;
  confirmation: string | null;
  device_public_key: string | null;
  browser_active_at: number | null;
  end_reason: EndReason | null;
  link_id_issued: number;
  kind: "qr" | "code";
  code_number: string | null;
  code_browser_share: string | null;
  code_browser_public_key: string | null;
  code_expires_at: number | null;
  code_checked_at: number | null;
  add_device_attempts: number;
  add_device_due_at: number | null;
  remove_device_attempts: number;
  remove_device_due_at: number | null;
}

const SESSION_COLUMNS =
  "session_id, state, created_at, device, token, token_seq, token_expires_at, previous_token, previous_expires_at, failed_scans, scanned_by, scanned_at, account_number, account_name, phone_public_key, confirmation, device_public_key, browser_active_at, end_reason, link_id_issued, kind, code_number, code_browser_share, code_browser_public_key, code_expires_at, code_checked_at, add_device_attempts, add_device_due_at, remove_device_attempts, remove_device_due_at";

function toSession(row: SessionRow): Session {
  const opened: Opened = { sessionId: row.session_id, createdAt: row.created_at, device: JSON.parse(row.device) as Description };
  if (row.kind === "code") {
    const code: CodeRequest = {
      number: row.code_number,
      browserShare: row.code_browser_share,
      browserPublicKey: row.code_browser_public_key,
      expiresAt: row.code_expires_at ?? 0,
      checkedAt: row.code_checked_at,
    };
    opened.code = code;
  }
  const proof = (): LinkProof => ({
    account: { number: row.account_number ?? "", name: row.account_name ?? "" },
    phonePublicKey: row.phone_public_key ?? "",
    confirmation: row.confirmation ?? "",
  });
  switch (row.state) {
    case "pending":
      // A QR session waits on its socket; one in SQLite is from before that, and its socket went with that deploy.
      if (row.kind === "qr") return { ...opened, state: "ended", reason: "expired", removeDevice: null };
      return { ...opened, state: "pending", tokens: { from: row.created_at, tokens: [] }, failedScans: row.failed_scans };
    case "scanned":
      return { ...opened, state: "scanned", scannedBy: row.scanned_by ?? "", scannedAt: row.scanned_at ?? 0, phonePublicKey: row.phone_public_key ?? "" };
    case "confirming":
      return {
        ...opened,
        state: "confirming",
        scannedBy: row.scanned_by ?? "",
        scannedAt: row.scanned_at ?? 0,
        proof: proof(),
        addDevice: { attempts: row.add_device_attempts, dueAt: row.add_device_due_at ?? row.scanned_at ?? 0 },
      };
    case "linked":
      return {
        ...opened,
        state: "linked",
        proof: proof(),
        devicePublicKey: row.device_public_key,
        browserActiveAt: row.browser_active_at ?? row.created_at,
        linkIdIssued: row.link_id_issued === 1,
      };
    case "ended": {
      const dueAt = row.remove_device_due_at;
      const removeDevice = dueAt === null ? null : { accountNumber: row.account_number ?? "", attempts: row.remove_device_attempts, dueAt };
      return { ...opened, state: "ended", reason: row.end_reason ?? "expired", removeDevice };
    }
  }
}

/** Where a waiting QR session's state is kept on its browser's socket, beside the socket's own attachment. */
const PENDING_KEY = "pending";

/** A pending session read back from a socket's attachment, or null; checked, since it comes back through a serializer. */
function pendingOn(ws: WebSocket): PendingSession | null {
  const value = (ws.deserializeAttachment() as Record<string, unknown> | null)?.[PENDING_KEY] as Partial<PendingSession> | undefined;
  if (value?.state !== "pending" || typeof value.sessionId !== "string" || typeof value.createdAt !== "number" || typeof value.failedScans !== "number") return null;
  const tokens = value.tokens?.tokens;
  if (typeof value.device !== "object" || typeof value.tokens?.from !== "number" || !Array.isArray(tokens)) return null;
  if (!tokens.every((token: Partial<Token>) => typeof token?.token === "string" && typeof token.seq === "number" && typeof token.expiresAt === "number")) return null;
  return value as PendingSession;
}

/** Writes (or with null, removes) the pending session on a socket, keeping the rest of its attachment. */
function keepOn(ws: WebSocket, session: PendingSession | null): void {
  const { [PENDING_KEY]: _replaced, ...attachment } = (ws.deserializeAttachment() as Record<string, unknown> | null) ?? {};
  ws.serializeAttachment(session ? { ...attachment, [PENDING_KEY]: session } : attachment);
}

export class SessionStore {
  private readonly storage: DurableObjectStorage;
  private readonly sql: SqlStorage;
  /** The session as last read or written; every write goes through here, so it is never stale within this object. */
  private cached: Session | null | undefined;
  /** The browser socket holding a waiting QR session's state, while it is not in SQLite. */
  private holder: WebSocket | null = null;

  constructor(
    private readonly ctx: DurableObjectState,
    /** The relay's frames live in the same database, and go with it. */
    private readonly frames: { forget(): void },
  ) {
    this.storage = ctx.storage;
    this.sql = ctx.storage.sql;
  }

  /** Whether this object's schema is known to be current (it is brought up to date once per object, when it has state). */
  private migrated = false;

  /** The session, or null when there is none; reading an object that never had one creates nothing. */
  session(): Session | null {
    if (this.cached !== undefined) return this.cached;
    // A socket's record is removed when the state moves to SQLite: one that has it is the session.
    for (const ws of this.ctx.getWebSockets("browser")) {
      const pending = pendingOn(ws);
      if (!pending) continue;
      this.holder = ws;
      this.cached = pending;
      return pending;
    }
    if (!this.migrated && hasState(this.storage)) this.migrate();
    const row = this.migrated ? this.sql.exec<SessionRow>(`SELECT ${SESSION_COLUMNS} FROM session WHERE id = 1`).toArray()[0] : undefined;
    this.cached = row ? toSession(row) : null;
    return this.cached;
  }

  private write(query: string, ...bindings: SqlStorageValue[]): void {
    this.cached = undefined;
    this.sql.exec(query, ...bindings);
  }

  // --- transitions ---------------------------------------------------------

  private migrate(): void {
    migrate(this.storage, SESSION_MIGRATIONS);
    this.migrated = true;
  }

  /** The schema for the first durable state: the whole of it at once on an object that had none (a local runtime may have put a table of its own there). */
  private ensureSchema(): void {
    if (this.migrated) return;
    if (hasState(this.storage)) return this.migrate();
    createFresh(this.storage, SESSION_SCHEMA);
    this.migrated = true;
  }

  /** The waiting session held on its socket (null once it is in SQLite, or if it never was on one). */
  private held(): PendingSession | null {
    const session = this.session();
    return this.holder && session?.state === "pending" ? session : null;
  }

  /** Replaces the waiting session on its socket. */
  private hold(session: PendingSession): void {
    keepOn(this.holder!, session);
    this.cached = session;
  }

  /** The state left the socket (it moved to SQLite, or ended). */
  private release(): void {
    if (this.holder) keepOn(this.holder, null);
    this.holder = null;
  }

  /** A QR session opens on the browser socket that opened it: its state is kept there until the scan. */
  open(ws: WebSocket, opened: Opened, tokens: LiveTokens): void {
    this.holder = ws;
    this.hold({ ...opened, state: "pending", tokens, failedScans: 0 });
  }

  /** The schedule after a replacement (wrong scans): the withdrawn tokens are gone at once. */
  replaceTokens(tokens: LiveTokens): void {
    const held = this.held();
    if (held) this.hold({ ...held, tokens });
  }

  /** A code session: no token, and until `expiresAt` for the browser to say which number it wants a code for. */
  openCode(opened: Opened, expiresAt: number): void {
    this.ensureSchema();
    this.write(
      "INSERT INTO session (id, session_id, state, created_at, device, kind, code_expires_at) VALUES (1, ?, 'pending', ?, ?, 'code', ?)",
      opened.sessionId,
      opened.createdAt,
      JSON.stringify(opened.device),
      expiresAt,
    );
  }

  /** The browser asked for a code for `number`: its share and key are kept, and the code lives until `expiresAt`. */
  requestCode(number: string, browserShare: string, browserPublicKey: string, expiresAt: number): void {
    this.write(
      "UPDATE session SET code_number = ?, code_browser_share = ?, code_browser_public_key = ?, code_expires_at = ? WHERE id = 1",
      number,
      browserShare,
      browserPublicKey,
      expiresAt,
    );
  }

  /** The browser verified the phone's confirmation for the code tried now: the phone may confirm. */
  codeChecked(at: number): void {
    this.write("UPDATE session SET code_checked_at = ? WHERE id = 1", at);
  }

  /** A code try failed or went unanswered: the code waits for another, and the phone's key is forgotten. */
  backToPending(): void {
    this.write("UPDATE session SET state = 'pending', scanned_by = NULL, scanned_at = NULL, phone_public_key = NULL, code_checked_at = NULL WHERE id = 1");
  }

  countWrongScan(): number {
    const held = this.held();
    if (held) {
      this.hold({ ...held, failedScans: held.failedScans + 1 });
      return held.failedScans + 1;
    }
    this.cached = undefined;
    return this.sql.exec<{ failed_scans: number }>("UPDATE session SET failed_scans = failed_scans + 1 WHERE id = 1 RETURNING failed_scans").one().failed_scans;
  }

  /** Spending the token clears both: a code is good for one scan. The phone's key is committed here, before the browser shows its number. */
  scan(phoneNumber: string, phonePublicKey: string, at: number): void {
    const held = this.held();
    if (held) {
      // The first durable state: the database is created with the scanned session, and the socket lets go, in one
      // transaction: if letting go fails, nothing was written and the socket still holds the waiting session.
      return this.storage.transactionSync(() => {
        this.ensureSchema();
        this.write(
          "INSERT INTO session (id, session_id, state, created_at, device, failed_scans, scanned_by, scanned_at, phone_public_key) VALUES (1, ?, 'scanned', ?, ?, ?, ?, ?, ?)",
          held.sessionId,
          held.createdAt,
          JSON.stringify(held.device),
          held.failedScans,
          phoneNumber,
          at,
          phonePublicKey,
        );
        this.release();
      });
    }
    this.write(
      "UPDATE session SET state = 'scanned', scanned_by = ?, scanned_at = ?, phone_public_key = ?, token = NULL, previous_token = NULL WHERE id = 1",
      phoneNumber,
      at,
      phonePublicKey,
    );
  }

  /** The confirmation is under way, and the Account is owed a device slot until it answers (the state is the debt: one row). */
  beginConfirm(proof: LinkProof, now: number): void {
    this.write(
      "UPDATE session SET state = 'confirming', account_number = ?, account_name = ?, phone_public_key = ?, confirmation = ?, add_device_attempts = 0, add_device_due_at = ? WHERE id = 1",
      proof.account.number,
      proof.account.name,
      proof.phonePublicKey,
      proof.confirmation,
      now,
    );
  }

  /** The Account refused the slot (the device limit): the scan waits again, as before the confirm, with the phone's key still committed. */
  backToScanned(): void {
    this.write("UPDATE session SET state = 'scanned', account_number = NULL, account_name = NULL, confirmation = NULL WHERE id = 1");
  }

  /**
   * The Account holds the device row: the session is linked, and its link id
   * is about to be handed to both sides, so from now on only that id reaches
   * its relay.
   */
  link(now: number): void {
    this.write("UPDATE session SET state = 'linked', browser_active_at = ?, link_id_issued = 1 WHERE id = 1", now);
  }

  registerDeviceKey(devicePublicKey: string): void {
    this.write("UPDATE session SET device_public_key = ? WHERE id = 1", devicePublicKey);
  }

  browserActive(at: number): void {
    this.write("UPDATE session SET browser_active_at = ? WHERE id = 1", at);
  }

  /** Ended, and if the Account may hold a device row for it, owed its removal (which replaces any pending addition). */
  end(reason: EndReason, owesRemoval: string | null, now: number): void {
    const held = this.held();
    if (held) {
      // Nothing was stored and nothing is owed: it ends in memory, and goes with the object.
      const { sessionId, createdAt, device } = held;
      this.release();
      this.cached = { sessionId, createdAt, device, state: "ended", reason, removeDevice: null };
      return;
    }
    // One row: the end, and the removal it owes (which replaces any pending addition, owed only while confirming).
    this.write(
      "UPDATE session SET state = 'ended', end_reason = ?, account_number = coalesce(?, account_number), remove_device_attempts = 0, remove_device_due_at = ? WHERE id = 1",
      reason,
      owesRemoval,
      owesRemoval ? now : null,
    );
  }

  /** Deletes everything: the alarm, the tables, the database. */
  async wipe(): Promise<void> {
    this.release();
    await this.storage.deleteAlarm();
    await this.storage.deleteAll();
    this.cached = null;
    this.migrated = false;
    this.frames.forget();
  }

  // --- the outbox: calls owed to the Account, each kept in the session row --------

  /**
   * The call the session owes the Account, if any: a confirming session's
   * device slot, or an ended one's removal. The state is the debt, so there
   * is at most one.
   */
  outbox(): OutboxEntry[] {
    const session = this.session();
    if (session?.state === "confirming") return [{ kind: "add_device", accountNumber: session.proof.account.number, ...session.addDevice }];
    if (session?.state === "ended" && session.removeDevice) return [{ kind: "remove_device", ...session.removeDevice }];
    return [];
  }

  /** A call waits for another to finish: it goes at `dueAt`, and it did not fail. */
  defer(entry: OutboxEntry, dueAt: number): void {
    this.write(`UPDATE session SET ${OWED_COLUMNS[entry.kind].dueAt} = ? WHERE id = 1`, dueAt);
  }

  /** A call that failed is tried again at `dueAt`. */
  postpone(entry: OutboxEntry, dueAt: number): void {
    const { attempts, dueAt: dueAtColumn } = OWED_COLUMNS[entry.kind];
    this.write(`UPDATE session SET ${attempts} = ${attempts} + 1, ${dueAtColumn} = ? WHERE id = 1`, dueAt);
  }

  /** The ended session's removal was made: nothing is owed any more. (An addition is settled by `link` or `backToScanned`.) */
  removalMade(): void {
    this.write("UPDATE session SET remove_device_due_at = NULL WHERE id = 1");
  }
}

/** Where each kind of owed call keeps its failed attempts and its next time in the session row. */
const OWED_COLUMNS: Record<OutboxKind, { attempts: string; dueAt: string }> = {
  add_device: { attempts: "add_device_attempts", dueAt: "add_device_due_at" },
  remove_device: { attempts: "remove_device_attempts", dueAt: "remove_device_due_at" },
};
