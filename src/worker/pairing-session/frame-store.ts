// The relay buffer's storage in the session's SQLite: one frame table for
// both directions (`relay_frame`, keyed by the rowid: seq toward the browser,
// -seq toward the phone, so a new session creates one table, not two), and
// each direction's cursor in the session row (the statements of each
// direction named here once rather than built from strings). The
// cursors and the size of each frame held are kept in memory, and changes are
// written behind: frames taken, cursor moves and frames freed wait in memory
// until `flush` writes them all in one transaction, so a burst costs one
// write, not one per frame, and a frame the receiver acknowledges before the
// write is never written at all. Whatever says where the relay stands
// flushes first (relay.ts). An evicted object, or one whose write failed,
// reads the database again: it loses only what it never wrote, which no
// sender was told was stored.
import type { Direction } from "../../shared/protocol";
import type { Frame, FrameStore, RelayCursor } from "./relay-buffer";

const DIRECTION_SQL = {
  to_browser: {
    readCursor: "SELECT to_browser_received AS received, to_browser_delivered AS delivered, to_browser_buffered_bytes AS bytes FROM session WHERE id = 1",
    writeCursor: "UPDATE session SET to_browser_received = ?, to_browser_delivered = ?, to_browser_buffered_bytes = ? WHERE id = 1",
    sizes: "SELECT id AS seq, length(data) AS bytes FROM relay_frame WHERE id > 0 ORDER BY id",
    framesAfter: "SELECT id AS seq, data FROM relay_frame WHERE id > ? ORDER BY id",
    free: "DELETE FROM relay_frame WHERE id > 0 AND id <= ?",
    /** A frame's id in `relay_frame`: its seq. */
    sign: 1,
  },
  to_phone: {
    readCursor: "SELECT to_phone_received AS received, to_phone_delivered AS delivered, to_phone_buffered_bytes AS bytes FROM session WHERE id = 1",
    writeCursor: "UPDATE session SET to_phone_received = ?, to_phone_delivered = ?, to_phone_buffered_bytes = ? WHERE id = 1",
    sizes: "SELECT -id AS seq, length(data) AS bytes FROM relay_frame WHERE id < 0 ORDER BY id DESC",
    framesAfter: "SELECT -id AS seq, data FROM relay_frame WHERE id < -? ORDER BY id DESC",
    free: "DELETE FROM relay_frame WHERE id < 0 AND id >= -?",
    /** A frame's id in `relay_frame`: minus its seq. */
    sign: -1,
  },
} as const satisfies Record<Direction, Record<string, string | number>>;

/** Frames per INSERT: a query binds at most 100 values on Durable Objects, two a frame. */
const ROWS_PER_INSERT = 50;

interface Known {
  cursor: RelayCursor;
  /** The highest seq in the frame table or waiting to be written: nothing is held past it. */
  highestStored: number;
  /** The size of each frame held (written or not), by seq, so freeing frames need not read them. */
  sizes: Map<number, number>;
  /** Frames waiting to be written, in the order they came. */
  unwritten: Frame[];
  /** Written frames up to this seq are to be deleted. */
  freedUpTo: number;
  /** Whether the cursor moved since the last write. */
  moved: boolean;
}

export class SqlFrameStore implements FrameStore {
  private readonly sql: SqlStorage;
  private readonly known = new Map<Direction, Known>();

  constructor(
    private readonly storage: DurableObjectStorage,
    /**
     * A write failed: memory is forgotten, but sockets may have been sent
     * frames that were never written and be owed a `stored`. Whatever the
     * caller was, every relay socket must start again from `ready`.
     */
    private readonly writeFailed: (error: unknown) => void,
  ) {
    this.sql = storage.sql;
  }

  private read(direction: Direction): Known {
    let known = this.known.get(direction);
    if (!known) {
      const row = this.sql.exec<{ received: number; delivered: number; bytes: number }>(DIRECTION_SQL[direction].readCursor).one();
      const held = this.sql.exec<{ seq: number; bytes: number }>(DIRECTION_SQL[direction].sizes).toArray();
      known = {
        cursor: { received: row.received, delivered: row.delivered, bufferedBytes: row.bytes },
        highestStored: held.at(-1)?.seq ?? 0,
        sizes: new Map(held.map(({ seq, bytes }) => [seq, bytes])),
        unwritten: [],
        freedUpTo: 0,
        moved: false,
      };
      this.known.set(direction, known);
    }
    return known;
  }

  cursor(direction: Direction): RelayCursor {
    return { ...this.read(direction).cursor };
  }

  take(direction: Direction, frame: Frame, received: number): void {
    const known = this.read(direction);
    if (!known.sizes.has(frame.seq)) {
      known.sizes.set(frame.seq, frame.data.length);
      known.unwritten.push(frame);
      known.highestStored = Math.max(known.highestStored, frame.seq);
      known.cursor.bufferedBytes += frame.data.length;
    }
    known.cursor.received = received;
    known.moved = true;
  }

  framesAfter(direction: Direction, seq: number): Frame[] {
    const known = this.read(direction);
    if (seq >= known.highestStored) return [];
    const written = this.sql.exec<{ seq: number; data: string }>(DIRECTION_SQL[direction].framesAfter, seq).toArray();
    const waiting = known.unwritten.filter((frame) => frame.seq > seq);
    return waiting.length === 0 ? written : [...written, ...waiting].sort((a, b) => a.seq - b.seq);
  }

  /** Frees the frames up to `seq` and records them delivered, written with whatever waits at the next `flush`; freed frames not written yet never are. */
  release(direction: Direction, seq: number): void {
    const known = this.read(direction);
    let freed = 0;
    // Frames up to `delivered` are gone already: only those since are looked up, not every frame held.
    for (let held = known.cursor.delivered + 1; held <= seq; held++) {
      const bytes = known.sizes.get(held);
      if (bytes === undefined) continue;
      known.sizes.delete(held);
      known.cursor.bufferedBytes -= bytes;
      freed += 1;
    }
    const unwritten = known.unwritten.filter((frame) => frame.seq > seq);
    // Only frames already written need deleting.
    if (freed > known.unwritten.length - unwritten.length) known.freedUpTo = seq;
    known.unwritten = unwritten;
    known.cursor.delivered = seq;
    known.moved = true;
  }

  /** Whether anything waits to be written. */
  private unflushed(): boolean {
    for (const known of this.known.values()) if (known.moved || known.unwritten.length > 0) return true;
    return false;
  }

  /**
   * Writes what waits in one transaction (frames freed, frames taken, the
   * cursors): what is known in memory is then what the database says. If the
   * write fails, memory is forgotten and the database read again: what was
   * never written was never acknowledged.
   */
  flush(): void {
    if (!this.unflushed()) return;
    const writes: (() => void)[] = [];
    for (const [direction, known] of this.known) {
      const { freedUpTo, unwritten, cursor } = known;
      if (freedUpTo > 0) writes.push(() => this.sql.exec(DIRECTION_SQL[direction].free, freedUpTo));
      for (let start = 0; start < unwritten.length; start += ROWS_PER_INSERT) writes.push(() => this.insertRows(direction, unwritten.slice(start, start + ROWS_PER_INSERT)));
      if (known.moved) writes.push(() => this.sql.exec(DIRECTION_SQL[direction].writeCursor, cursor.received, cursor.delivered, cursor.bufferedBytes));
    }
    try {
      // One statement is all or nothing by itself (an ack of frames never written moves only a cursor); more go in a transaction.
      if (writes.length === 1) writes[0]!();
      else this.storage.transactionSync(() => writes.forEach((write) => write()));
    } catch (error) {
      this.forget();
      this.writeFailed(error);
      throw error;
    }
    for (const known of this.known.values()) {
      known.unwritten = [];
      known.freedUpTo = 0;
      known.moved = false;
    }
  }

  private insertRows(direction: Direction, frames: Frame[]): void {
    const { sign } = DIRECTION_SQL[direction];
    const values = frames.map(() => "(?, ?)").join(", ");
    this.sql.exec(`INSERT INTO relay_frame (id, data) VALUES ${values}`, ...frames.flatMap((frame) => [sign * frame.seq, frame.data]));
  }

  /** The session's storage was deleted, or a write failed: the database is read again when next needed. */
  forget(): void {
    this.known.clear();
  }
}
