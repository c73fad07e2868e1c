// The relay buffer's storage in the session's SQLite: the `frame` table, and
// each direction's cursor in the session row (a column set per direction,
// named here once rather than built from strings).
import type { Direction } from "../../shared/protocol";
import type { Frame, FrameStore, RelayCursor } from "./relay-buffer";

const CURSOR_SQL = {
  to_browser: {
    read: "SELECT to_browser_received AS received, to_browser_delivered AS delivered, to_browser_buffered_bytes AS bytes FROM session WHERE id = 1",
    advance: "UPDATE session SET to_browser_received = ?, to_browser_buffered_bytes = to_browser_buffered_bytes + ? WHERE id = 1",
    release: "UPDATE session SET to_browser_delivered = ?, to_browser_buffered_bytes = to_browser_buffered_bytes - ? WHERE id = 1",
  },
  to_phone: {
    read: "SELECT to_phone_received AS received, to_phone_delivered AS delivered, to_phone_buffered_bytes AS bytes FROM session WHERE id = 1",
    advance: "UPDATE session SET to_phone_received = ?, to_phone_buffered_bytes = to_phone_buffered_bytes + ? WHERE id = 1",
    release: "UPDATE session SET to_phone_delivered = ?, to_phone_buffered_bytes = to_phone_buffered_bytes - ? WHERE id = 1",
  },
} as const satisfies Record<Direction, Record<string, string>>;

export class SqlFrameStore implements FrameStore {
  private readonly sql: SqlStorage;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
  }

  cursor(direction: Direction): RelayCursor {
    const row = this.sql.exec<{ received: number; delivered: number; bytes: number }>(CURSOR_SQL[direction].read).one();
    return { received: row.received, delivered: row.delivered, bufferedBytes: row.bytes };
  }

  insert(direction: Direction, frame: Frame): boolean {
    return this.sql.exec("INSERT OR IGNORE INTO frame (direction, seq, data) VALUES (?, ?, ?)", direction, frame.seq, frame.data).rowsWritten > 0;
  }

  framesAfter(direction: Direction, seq: number): Frame[] {
    return this.sql.exec<{ seq: number; data: string }>("SELECT seq, data FROM frame WHERE direction = ? AND seq > ? ORDER BY seq", direction, seq).toArray();
  }

  advance(direction: Direction, received: number, addedBytes: number): void {
    this.sql.exec(CURSOR_SQL[direction].advance, received, addedBytes);
  }

  release(direction: Direction, seq: number): void {
    let freed = 0;
    for (const row of this.sql.exec<{ bytes: number }>("DELETE FROM frame WHERE direction = ? AND seq <= ? RETURNING length(data) AS bytes", direction, seq)) freed += row.bytes;
    this.sql.exec(CURSOR_SQL[direction].release, seq, freed);
  }

  transaction<T>(body: () => T): T {
    return this.storage.transactionSync(body);
  }
}
