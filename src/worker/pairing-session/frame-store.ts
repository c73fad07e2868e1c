// The relay buffer's storage in the session's SQLite: the `frame` table, and
// each direction's cursor in the session row (a column set per direction,
// named here once rather than built from strings). The cursors and the size
// of each frame held are kept in memory, and new frames and cursor moves are
// written behind: they wait in memory until `flush` writes them all in one
// transaction, so a burst of frames costs one write, not one per frame.
// Whatever says where the relay stands flushes first (relay.ts); an evicted
// object reads the cursors and sizes again, and loses only what it never
// flushed, which no sender was told was stored.
import type { Direction } from "../../shared/protocol";
import type { Frame, FrameStore, RelayCursor } from "./relay-buffer";

const CURSOR_SQL = {
  to_browser: {
    read: "SELECT to_browser_received AS received, to_browser_delivered AS delivered, to_browser_buffered_bytes AS bytes FROM session WHERE id = 1",
    write: "UPDATE session SET to_browser_received = ?, to_browser_buffered_bytes = ? WHERE id = 1",
    release: "UPDATE session SET to_browser_delivered = ?, to_browser_buffered_bytes = ? WHERE id = 1",
  },
  to_phone: {
    read: "SELECT to_phone_received AS received, to_phone_delivered AS delivered, to_phone_buffered_bytes AS bytes FROM session WHERE id = 1",
    write: "UPDATE session SET to_phone_received = ?, to_phone_buffered_bytes = ? WHERE id = 1",
    release: "UPDATE session SET to_phone_delivered = ?, to_phone_buffered_bytes = ? WHERE id = 1",
  },
} as const satisfies Record<Direction, Record<string, string>>;

interface Known {
  cursor: RelayCursor;
  /** The highest seq in the frame table or waiting to be written: nothing is held past it. */
  highestStored: number;
  /** The size of each frame held, by seq, so freeing frames need not read them. */
  sizes: Map<number, number>;
  /** Frames waiting to be written, in the order they came. */
  unwritten: Frame[];
  /** Whether `received` and the bytes held moved since the last write. */
  moved: boolean;
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
      const held = this.sql.exec<{ seq: number; bytes: number }>("SELECT seq, length(data) AS bytes FROM frame WHERE direction = ? ORDER BY seq", direction).toArray();
      known = {
        cursor: { received: row.received, delivered: row.delivered, bufferedBytes: row.bytes },
        highestStored: held.at(-1)?.seq ?? 0,
        sizes: new Map(held.map(({ seq, bytes }) => [seq, bytes])),
        unwritten: [],
        moved: false,
      };
      this.known.set(direction, known);
    }
    return known;
  }

  cursor(direction: Direction): RelayCursor {
    return { ...this.read(direction).cursor };
  }

  insert(direction: Direction, frame: Frame): boolean {
    const known = this.read(direction);
    if (known.sizes.has(frame.seq)) return false;
    known.sizes.set(frame.seq, frame.data.length);
    known.unwritten.push(frame);
    known.highestStored = Math.max(known.highestStored, frame.seq);
    return true;
  }

  framesAfter(direction: Direction, seq: number): Frame[] {
    const known = this.read(direction);
    if (seq >= known.highestStored) return [];
    const written = this.sql.exec<{ seq: number; data: string }>("SELECT seq, data FROM frame WHERE direction = ? AND seq > ? ORDER BY seq", direction, seq).toArray();
    const waiting = known.unwritten.filter((frame) => frame.seq > seq);
    return waiting.length === 0 ? written : [...written, ...waiting].sort((a, b) => a.seq - b.seq);
  }

  advance(direction: Direction, received: number, addedBytes: number): void {
    const known = this.read(direction);
    known.cursor.received = received;
    known.cursor.bufferedBytes += addedBytes;
    known.moved = true;
  }

  release(direction: Direction, seq: number): void {
    this.flush();
    const known = this.read(direction);
    const freed = [...known.sizes].filter(([held]) => held <= seq);
    const bufferedBytes = known.cursor.bufferedBytes - freed.reduce((sum, [, bytes]) => sum + bytes, 0);
    this.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM frame WHERE direction = ? AND seq <= ?", direction, seq);
      this.sql.exec(CURSOR_SQL[direction].release, seq, bufferedBytes);
    });
    for (const [held] of freed) known.sizes.delete(held);
    known.cursor.delivered = seq;
    known.cursor.bufferedBytes = bufferedBytes;
  }

  /** Whether frames or cursor moves wait to be written. */
  unflushed(): boolean {
    for (const known of this.known.values()) if (known.moved || known.unwritten.length > 0) return true;
    return false;
  }

  /** Writes what waits, in one transaction; what is known in memory is then what the database says. */
  flush(): void {
    if (!this.unflushed()) return;
    this.storage.transactionSync(() => {
      for (const [direction, known] of this.known) {
        for (const frame of known.unwritten) this.sql.exec("INSERT OR IGNORE INTO frame (direction, seq, data) VALUES (?, ?, ?)", direction, frame.seq, frame.data);
        if (known.moved) this.sql.exec(CURSOR_SQL[direction].write, known.cursor.received, known.cursor.bufferedBytes);
      }
    });
    for (const known of this.known.values()) {
      known.unwritten = [];
      known.moved = false;
    }
  }

  /**
   * All or nothing: a body that throws leaves what is known, and what waits
   * to be written, as it found them. Only `release` writes (after a flush,
   * in a transaction of its own), so rolling back memory is enough.
   */
  transaction<T>(body: () => T): T {
    const before = [...this.known].map(([direction, known]) => ({ direction, cursor: { ...known.cursor }, highestStored: known.highestStored, waiting: known.unwritten.length, moved: known.moved }));
    try {
      return body();
    } catch (error) {
      const restored = new Map<Direction, Known>();
      for (const { direction, cursor, highestStored, waiting, moved } of before) {
        const known = this.known.get(direction)!;
        for (const frame of known.unwritten.slice(waiting)) known.sizes.delete(frame.seq);
        restored.set(direction, { cursor, highestStored, sizes: known.sizes, unwritten: known.unwritten.slice(0, waiting), moved: known.moved || moved });
      }
      // A direction first read by the body is read again.
      this.known.clear();
      for (const [direction, known] of restored) this.known.set(direction, known);
      throw error;
    }
  }

  /** The session's storage was deleted, with nothing waiting to be written into it. */
  forget(): void {
    this.known.clear();
  }
}
