// Which kept photos and files make room for a new one: the least recently
// opened go first, until the new one fits under the cache's bound. Only what
// was opened here (or sent from here) ever makes room: a photo fetched in the
// background and never looked at may be this browser's only copy (the server
// deletes it once every device has it), so it stays until opened; and a
// background fetch makes no room at all: one that does not fit is left on
// the server until clicked. Pure, so the policy is tested apart from
// IndexedDB (media-cache.ts keeps the files).

/**
 * The most this browser keeps of the photos and files it fetched or sent:
 * about a dozen of the largest files, or a few hundred photos, well inside
 * what browsers let an origin store, so the chats themselves are never
 * crowded out.
 */
export const MEDIA_CACHE_BYTES = 200 * 1024 * 1024;

/**
 * One kept photo or file: its size, when it was last kept or opened, and
 * whether it was ever opened (or sent) here; entries kept before this flag
 * existed count as opened.
 */
export interface CachedEntry {
  blobId: string;
  bytes: number;
  usedAt: number;
  opened?: boolean;
}

/**
 * The blob ids to evict so that `incoming` fits within `limit` bytes, least
 * recently used first and only among entries opened here; null when it
 * cannot fit so. An unopened incoming one (a background fetch) evicts
 * nothing. An entry with the incoming blob's id is replaced, not evicted.
 */
export function evictionFor(entries: readonly CachedEntry[], incoming: { blobId: string; bytes: number; opened: boolean }, limit = MEDIA_CACHE_BYTES): string[] | null {
  const others = entries.filter((entry) => entry.blobId !== incoming.blobId);
  let held = others.reduce((sum, entry) => sum + entry.bytes, 0) + incoming.bytes;
  const evictable = incoming.opened ? others.filter((entry) => entry.opened !== false).sort((x, y) => x.usedAt - y.usedAt) : [];
  const evicted: string[] = [];
  for (const entry of evictable) {
    if (held <= limit) break;
    evicted.push(entry.blobId);
    held -= entry.bytes;
  }
  return held <= limit ? evicted : null;
}
