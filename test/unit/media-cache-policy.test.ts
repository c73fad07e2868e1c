import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evictionFor, MEDIA_CACHE_BYTES, type CachedEntry } from "../../src/clients/browser/media-cache-policy";

const MiB = 1024 * 1024;
const entry = (blobId: string, bytes: number, usedAt: number, opened = true): CachedEntry => ({ blobId, bytes, usedAt, opened });

describe("the media cache's eviction", () => {
  it("evicts nothing while the new file fits, up to exactly the limit", () => {
    const kept = [entry("a", 60 * MiB, 1), entry("b", 40 * MiB, 2)];
    expect(evictionFor(kept, { blobId: "c", bytes: 100 * MiB, opened: true })).toEqual([]);
    expect(evictionFor([], { blobId: "c", bytes: MEDIA_CACHE_BYTES, opened: true })).toEqual([]);
  });

  it("evicts the least recently used first, and only as many as the new file needs", () => {
    // "old" was kept first but opened last: it stays, and the two used longest ago go.
    const kept = [entry("old", 50 * MiB, 30), entry("first", 50 * MiB, 10), entry("second", 50 * MiB, 20), entry("recent", 50 * MiB, 40)];
    expect(evictionFor(kept, { blobId: "new", bytes: 90 * MiB, opened: true })).toEqual(["first", "second"]);
    expect(evictionFor(kept, { blobId: "new", bytes: 1, opened: true })).toEqual(["first"]);
  });

  it("replaces a file kept again under the same id instead of counting or evicting it", () => {
    const kept = [entry("same", 150 * MiB, 1), entry("other", 40 * MiB, 2)];
    expect(evictionFor(kept, { blobId: "same", bytes: 150 * MiB, opened: true })).toEqual([]);
  });

  it("refuses a file larger than the whole cache, evicting nothing for it", () => {
    expect(evictionFor([entry("a", MiB, 1)], { blobId: "huge", bytes: MEDIA_CACHE_BYTES + 1, opened: true })).toBeNull();
  });

  it("never evicts a photo fetched in the background and not opened yet: only opened ones make room, or none", () => {
    const kept = [entry("unseen", 100 * MiB, 1, false), entry("seen", 50 * MiB, 2), entry("later-seen", 40 * MiB, 3)];
    expect(evictionFor(kept, { blobId: "new", bytes: 60 * MiB, opened: true })).toEqual(["seen"]);
    expect(evictionFor(kept, { blobId: "new", bytes: 100 * MiB, opened: true })).toEqual(["seen", "later-seen"]);
    expect(evictionFor(kept, { blobId: "new", bytes: 101 * MiB, opened: true })).toBeNull();
    // Kept before the flag existed: counted as opened.
    expect(evictionFor([{ blobId: "old", bytes: 200 * MiB, usedAt: 1 }], { blobId: "new", bytes: 1, opened: true })).toEqual(["old"]);
  });

  it("makes no room for a photo fetched in the background: it is kept only if it fits as things are", () => {
    const kept = [entry("seen", 150 * MiB, 1)];
    expect(evictionFor(kept, { blobId: "new", bytes: 50 * MiB, opened: false })).toEqual([]);
    expect(evictionFor(kept, { blobId: "new", bytes: 50 * MiB + 1, opened: false })).toBeNull();
  });

  it("always leaves the cache within its limit, evicting only opened entries, each kept opened one used more recently than every evicted one", () => {
    const entries = fc.uniqueArray(
      fc.record({ blobId: fc.string({ minLength: 1, maxLength: 4 }), bytes: fc.integer({ min: 0, max: 1_000 }), usedAt: fc.integer({ min: 0, max: 50 }), opened: fc.boolean() }),
      { selector: (e) => e.blobId, maxLength: 30 },
    );
    fc.assert(
      fc.property(entries, fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 1, max: 5_000 }), fc.boolean(), (kept, bytes, limit, opened) => {
        const evicted = evictionFor(kept, { blobId: "incoming", bytes, opened }, limit);
        const unevictable = kept.filter((e) => !opened || !e.opened).reduce((sum, e) => sum + e.bytes, bytes);
        if (unevictable > limit) {
          expect(evicted).toBeNull();
          return;
        }
        const gone = new Set(evicted);
        const stay = kept.filter((e) => !gone.has(e.blobId));
        expect(stay.reduce((sum, e) => sum + e.bytes, bytes)).toBeLessThanOrEqual(limit);
        for (const e of kept) if (gone.has(e.blobId)) expect(e.opened && opened).toBe(true);
        const newestEvicted = Math.max(-1, ...kept.filter((e) => gone.has(e.blobId)).map((e) => e.usedAt));
        for (const e of stay) if (e.opened) expect(e.usedAt).toBeGreaterThanOrEqual(newestEvicted);
      }),
    );
  });
});
