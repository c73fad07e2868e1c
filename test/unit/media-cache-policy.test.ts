import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evictionFor, MEDIA_CACHE_BYTES, type CachedEntry } from "../../src/clients/browser/media-cache-policy";

const MiB = 1024 * 1024;
const entry = (blobId: string, bytes: number, usedAt: number): CachedEntry => ({ blobId, bytes, usedAt });

describe("the media cache's eviction", () => {
  it("is bounded at 200 MiB", () => {
    expect(MEDIA_CACHE_BYTES).toBe(200 * MiB);
  });

  it("evicts nothing while the new file fits, up to exactly the limit", () => {
    const kept = [entry("a", 60 * MiB, 1), entry("b", 40 * MiB, 2)];
    expect(evictionFor(kept, { blobId: "c", bytes: 100 * MiB })).toEqual([]);
    expect(evictionFor([], { blobId: "c", bytes: MEDIA_CACHE_BYTES })).toEqual([]);
  });

  it("evicts the least recently used first, and only as many as the new file needs", () => {
    // "old" was kept first but opened last: it stays, and the two used longest ago go.
    const kept = [entry("old", 50 * MiB, 30), entry("first", 50 * MiB, 10), entry("second", 50 * MiB, 20), entry("recent", 50 * MiB, 40)];
    expect(evictionFor(kept, { blobId: "new", bytes: 90 * MiB })).toEqual(["first", "second"]);
    expect(evictionFor(kept, { blobId: "new", bytes: 1 })).toEqual(["first"]);
  });

  it("replaces a file kept again under the same id instead of counting or evicting it", () => {
    const kept = [entry("same", 150 * MiB, 1), entry("other", 40 * MiB, 2)];
    expect(evictionFor(kept, { blobId: "same", bytes: 150 * MiB })).toEqual([]);
  });

  it("refuses a file larger than the whole cache, evicting nothing for it", () => {
    expect(evictionFor([entry("a", MiB, 1)], { blobId: "huge", bytes: MEDIA_CACHE_BYTES + 1 })).toBeNull();
  });

  it("always leaves the cache within its limit, every kept entry used more recently than every evicted one", () => {
    const entries = fc.uniqueArray(fc.record({ blobId: fc.string({ minLength: 1, maxLength: 4 }), bytes: fc.integer({ min: 0, max: 1_000 }), usedAt: fc.integer({ min: 0, max: 50 }) }), { selector: (e) => e.blobId, maxLength: 30 });
    fc.assert(
      fc.property(entries, fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 1, max: 5_000 }), (kept, bytes, limit) => {
        const evicted = evictionFor(kept, { blobId: "incoming", bytes }, limit);
        if (bytes > limit) {
          expect(evicted).toBeNull();
          return;
        }
        const gone = new Set(evicted);
        const stay = kept.filter((e) => !gone.has(e.blobId));
        expect(stay.reduce((sum, e) => sum + e.bytes, bytes)).toBeLessThanOrEqual(limit);
        const newestEvicted = Math.max(-1, ...kept.filter((e) => gone.has(e.blobId)).map((e) => e.usedAt));
        for (const e of stay) expect(e.usedAt).toBeGreaterThanOrEqual(newestEvicted);
      }),
    );
  });
});
