// The photos and files this browser fetched or sent, kept in IndexedDB by
// blob id beside the chats, so opening one again (after a reload too) needs
// no server: the server deletes a blob once every device has it. Kept
// decrypted and already checked against its SHA-256: the key would sit in
// the same database anyway (in its chat message), so keeping the ciphertext
// would cost a decryption per opening and protect nothing. Bounded by
// MEDIA_CACHE_BYTES, least recently opened evicted first, never one not yet
// opened (media-cache-policy.ts); it lives in the link's store, so
// forgetting the link (logging out) forgets it too. Beside each fetched
// file, until the server has heard this browser has it, a note to tell it
// again (the request can fail or the tab close).
import { linkDatabase } from "./link-store";
import { evictionFor, MEDIA_CACHE_BYTES, type CachedEntry } from "./media-cache-policy";

const FILE_PREFIX = "media:";
const ENTRY_PREFIX = "media-entry:";
const UNACKNOWLEDGED_PREFIX = "media-unacknowledged:";

/** How a file came: sent from here (nothing to tell the server), opened by a click, or fetched in the background (not opened yet). */
export type Kept = "sent" | "opened" | "received";

export class MediaCache {
  /** One write at a time, each reading the entries the last one left, so two kept at once cannot overrun the bound. */
  private writes: Promise<unknown> = Promise.resolve();

  /** The bound and the clock are the real ones but in tests. */
  constructor(
    private readonly limit = MEDIA_CACHE_BYTES,
    private readonly now: () => number = Date.now,
  ) {}

  /** The kept file, or null; opening it makes it the most recently used. */
  async get(blobId: string): Promise<Blob | null> {
    const file = await linkDatabase.get<Blob>(`${FILE_PREFIX}${blobId}`);
    if (!file) return null;
    void this.write(async () => {
      const entry = await linkDatabase.get<CachedEntry>(`${ENTRY_PREFIX}${blobId}`);
      if (entry) await linkDatabase.put(`${ENTRY_PREFIX}${blobId}`, { ...entry, usedAt: this.now(), opened: true } satisfies CachedEntry);
    }).catch(() => undefined);
    return file;
  }

  async has(blobId: string): Promise<boolean> {
    return (await linkDatabase.get<CachedEntry>(`${ENTRY_PREFIX}${blobId}`)) !== undefined;
  }

  /**
   * Keeps a file, evicting the least recently opened to make room (none for
   * one `received`): the entries are read, then the file written and the
   * evicted deleted in one transaction, one keep at a time (so two at once
   * cannot overrun the bound); false when it was not kept (no room, the
   * browser's storage is full, or this tab no longer writes the link). A
   * fetched one is noted as not yet acknowledged to the server, in the same
   * write.
   */
  keep(blobId: string, file: Blob, how: Kept): Promise<boolean> {
    return this.write(async () => {
      const opened = how !== "received";
      const evicted = evictionFor(await linkDatabase.getAll<CachedEntry>(ENTRY_PREFIX), { blobId, bytes: file.size, opened }, this.limit);
      if (!evicted) return false;
      const entry: CachedEntry = { blobId, bytes: file.size, usedAt: this.now(), opened };
      await linkDatabase.putAll(
        [
          [`${FILE_PREFIX}${blobId}`, file],
          [`${ENTRY_PREFIX}${blobId}`, entry],
          ...(how === "sent" ? [] : [[`${UNACKNOWLEDGED_PREFIX}${blobId}`, blobId] as [string, string]]),
        ],
        evicted.flatMap((id) => [`${FILE_PREFIX}${id}`, `${ENTRY_PREFIX}${id}`]),
      );
      return true;
    }).catch(() => false);
  }

  /** The kept files the server has not yet heard this browser has. */
  unacknowledged(): Promise<string[]> {
    return linkDatabase.getAll<string>(UNACKNOWLEDGED_PREFIX);
  }

  /** The server heard it. */
  acknowledged(blobId: string): Promise<void> {
    return linkDatabase.delete(`${UNACKNOWLEDGED_PREFIX}${blobId}`);
  }

  private write<T>(step: () => Promise<T>): Promise<T> {
    const next = this.writes.then(step);
    this.writes = next.catch(() => undefined);
    return next;
  }
}
