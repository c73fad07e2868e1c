// The relay buffer's storage in the session's SQLite: the `frame` table, and
// each direction's cursor in the session row (a column set per direction,
// named here once rather than built from strings). The cursors and the
// highest stored seq are also kept in memory, so a frame in order costs one
// insert and one update, with no read: every write goes through here, and an
// evicted object reads them again.
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

interface Known {
  cursor: RelayCursor;
  /** The highest seq in the frame table: nothing is held past it. */
  highestStored: number;
}

export class SqlFrameStore implements FrameStore {
  private readonly sql: SqlStorage;
  private readonly known = new Map<Direction, Known>();

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
  }

  private read(direction: Direction): Known {
    let known = this.known.get(direction);
    if (!known) {
      const row = this.sql.exec<{ received: number; delivered: number; bytes: number }>(CURSOR_SQL[direction].read).one();
      const highest = this.sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM frame WHERE direction = ?", direction).one().seq ?? 0;
      known = { cursor: { received: row.received, delivered: row.delivered, bufferedBytes: row.bytes }, highestStored: highest };
      this.known.set(direction, known);
    }
    return known;
  }

  cursor(direction: Direction): RelayCursor {
    return { ...this.read(direction).cursor };
  }

  insert(direction: Direction, frame: Frame): boolean {
    const inserted = this.sql.exec("INSERT OR IGNORE INTO frame (direction, seq, data) VALUES (?, ?, ?)", direction, frame.seq, frame.data).rowsWritten > 0;
    const known = this.read(direction);
    known.highestStored = Math.max(known.highestStored, frame.seq);
    return inserted;
  }

  framesAfter(direction: Direction, seq: number): Frame[] {
    if (seq >= this.read(direction).highestStored) return [];
    return this.sql.exec<{ seq: number; data: string }>("SELECT seq, data FROM frame WHERE direction = ? AND seq > ? ORDER BY seq", direction, seq).toArray();
  }

  advance(direction: Direction, received: number, addedBytes: number): void {
    this.sql.exec(CURSOR_SQL[direction].advance, received, addedBytes);
    const { cursor } = this.read(direction);
    cursor.received = received;
    cursor.bufferedBytes += addedBytes;
  }

  release(direction: Direction, seq: number): void {
    let freed = 0;
    for (const row of this.sql.exec<{ bytes: number }>("DELETE FROM frame WHERE direction = ? AND seq <= ? RETURNING length(data) AS bytes", direction, seq)) freed += row.bytes;
    this.sql.exec(CURSOR_SQL[direction].release, seq, freed);
    const { cursor } = this.read(direction);
    cursor.delivered = seq;
    cursor.bufferedBytes -= freed;
  }

  /** A transaction that throws rolls back, and so does what is known in memory. */
  transaction<T>(body: () => T): T {
    const before = new Map([...this.known].map(([direction, known]) => [direction, { cursor: { ...known.cursor }, highestStored: known.highestStored }]));
    try {
      return this.storage.transactionSync(body);
    } catch (error) {
      this.known.clear();
      for (const [direction, known] of before) this.known.set(direction, known);
      throw error;
    }
  }

  /** The session's storage was deleted. */
  forget(): void {
    this.known.clear();
  }
}
