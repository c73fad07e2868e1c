// An IndexedDB object store that one tab writes at a time. The tab that takes
// the tab lock claims the store with a fresh writer id; every write checks
// that id and writes in one readwrite transaction (a compare-and-set), so a
// tab that lost the lock can never overwrite the new holder's state.
import { openDB, type IDBPDatabase } from "idb";

/** Where the current writer's id is kept, beside the records. */
const WRITER_KEY = "writer";

/** This tab is no longer the store's writer: another tab took over. */
export class LostWriterError extends Error {
  constructor() {
    super("QR Link is open in another window, which now keeps its state; this window no longer writes it");
  }
}

export class WriterGuardedStore {
  private writer: string | null = null;
  private database: Promise<IDBPDatabase> | null = null;

  constructor(
    private readonly name: string,
    private readonly store: string,
  ) {}

  private db(): Promise<IDBPDatabase> {
    const store = this.store;
    this.database ??= openDB(this.name, 1, { upgrade: (db) => void db.createObjectStore(store) });
    return this.database;
  }

  /** Makes this tab the writer; call it once the tab holds the lock, before reading what it will write. */
  async claim(): Promise<void> {
    const writer = crypto.randomUUID();
    await (await this.db()).put(this.store, writer, WRITER_KEY);
    this.writer = writer;
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await (await this.db()).get(this.store, key)) as T | undefined;
  }

  /** The records whose keys start with `prefix`, in key order. */
  async getAll<T>(prefix: string): Promise<T[]> {
    return (await (await this.db()).getAll(this.store, IDBKeyRange.bound(prefix, `${prefix}\uffff`))) as T[];
  }

  put(key: string, value: unknown): Promise<void> {
    return this.write((store) => store.put(value, key));
  }

  /** Writes the records and deletes the `deleting` keys together, or does none of it. */
  putAll(records: [key: string, value: unknown][], deleting: string[] = []): Promise<void> {
    return this.write((store) => Promise.all([...records.map(([key, value]) => store.put(value, key)), ...deleting.map((key) => store.delete(key))]));
  }

  /** Deletes the keys together, or none of them. */
  delete(...keys: string[]): Promise<void> {
    return this.write((store) => Promise.all(keys.map((key) => store.delete(key))));
  }

  /**
   * Deletes every record, the writer's id too, and stops writing: whatever
   * was still under way in this tab then fails with LostWriterError instead
   * of putting back what was just wiped. The next link claims again.
   */
  async clear(): Promise<void> {
    await this.write((store) => store.clear());
    this.writer = null;
  }

  /** One readwrite transaction: read the writer, check it is this tab, then write. */
  private async write(change: (store: { put(value: unknown, key: string): Promise<unknown>; delete(key: string): Promise<void>; clear(): Promise<void> }) => Promise<unknown>): Promise<void> {
    const transaction = (await this.db()).transaction(this.store, "readwrite");
    const current = await transaction.store.get(WRITER_KEY);
    const mine = this.writer !== null && current === this.writer;
    if (mine) await change(transaction.store);
    await transaction.done;
    if (!mine) throw new LostWriterError();
  }
}
