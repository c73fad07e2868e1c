import { readFileSync } from "node:fs";
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

  it("has its bindings and vars in worker-configuration.d.ts (npm run types)", () => {
    const config = unstable_readConfig({ config: "wrangler.toml" });
    const types = readFileSync("worker-configuration.d.ts", "utf8");
    for (const rule of Object.values(RATE_LIMITS)) expect(types).toContain(`${rule.binding}: RateLimit;`);
    for (const name of Object.keys(config.vars)) expect(types).toContain(`${name}: string;`);
  });

  it("declares SITE_ORIGIN empty: local development only, a deployment sets its own", () => {
    const config = unstable_readConfig({ config: "wrangler.toml" });
    expect(config.vars).toHaveProperty("SITE_ORIGIN", "");
  });
});
