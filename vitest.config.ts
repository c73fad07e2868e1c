import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        // Unit and integration tests inside workerd, against the Worker and its Durable Objects.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            // The tests' site (helpers.ts ORIGIN), and one partner origin, so the allow-list is tested.
            // A code try waits 2 s (not 10) for a browser that does not answer, so that case is tested in real time.
            // The relay waits 1 s (not 0.1) for an ack before writing forwarded frames, so a loaded machine still acks in time where a test counts on it.
            miniflare: { bindings: { SITE_ORIGIN: "https://qr.example", ALLOWED_ORIGINS: "https://partner.example", CODE_VERDICT_TIMEOUT_MS: "2000", RELAY_ACK_WAIT_MS: "1000" } },
          }),
        ],
        // 20 s before a test counts as hung: a loaded 2-core CI machine runs the floods of frames slowly; a pass takes well under that.
        test: { name: "worker", include: ["test/worker/**/*.test.ts"], testTimeout: 20_000 },
      },
      {
        // The pure modules (tokens, deadlines, relay buffer, allowance, …) in plain Node: milliseconds each.
        test: { name: "unit", include: ["test/unit/**/*.test.ts"] },
      },
      {
        // The phone CLI and the browser suite, against a real `wrangler dev`.
        test: { name: "node", include: ["test/node/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 },
      },
    ],
  },
});
