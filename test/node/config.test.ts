import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { RATE_LIMITS } from "../../src/worker/rate-limit";

describe("wrangler.toml", () => {
  it("declares a rate-limiting binding for every limit, with the numbers the fallback uses", () => {
    const config = unstable_readConfig({ config: "wrangler.toml" });
    const declared = config.ratelimits.map((binding: (typeof config.ratelimits)[number]) => ({ binding: binding.name, limit: binding.simple.limit, periodSeconds: binding.simple.period }));
    expect(declared).toEqual(expect.arrayContaining(Object.values(RATE_LIMITS)));
    expect(declared).toHaveLength(Object.keys(RATE_LIMITS).length);
    expect(new Set(config.ratelimits.map(({ namespace_id }: { namespace_id: string }) => namespace_id)).size).toBe(declared.length);
  });
});
