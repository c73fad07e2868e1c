// Which kept photos and files make room for a new one: the least recently
// opened go first, until the new one fits under the cache's bound. Pure, so
// the policy is tested apart from IndexedDB (media-cache.ts keeps the files).

/**
 * The most this browser keeps of the photos and files it fetched or sent:
 * about a dozen of the largest files, or a few hundred photos, well inside
 * what browsers let an origin store, so the chats themselves are never
 * crowded out.
 */
export const MEDIA_CACHE_BYTES = 200 * 1024 * 1024;

/** One kept photo or file: its size, and when it was last kept or opened. */
export interface CachedEntry {
  blobId: string;
  bytes: number;
  usedAt: number;
}

/**
 * The blob ids to evict so that `incoming` fits within `limit` bytes, least
 * recently used first; null when it cannot fit even in an empty cache. An
 * entry with the incoming blob's id is replaced, not evicted.
 */
export function evictionFor(entries: readonly CachedEntry[], incoming: { blobId: string; bytes: number }, limit = MEDIA_CACHE_BYTES): string[] | null {
  if (incoming.bytes > limit) return null;
  const others = entries.filter((entry) => entry.blobId !== incoming.blobId).sort((x, y) => x.usedAt - y.usedAt);
  let held = others.reduce((sum, entry) => sum + entry.bytes, 0) + incoming.bytes;
  const evicted: string[] = [];
  for (const entry of others) {
    if (held <= limit) break;
    evicted.push(entry.blobId);
    held -= entry.bytes;
  }
  return evicted;
}
