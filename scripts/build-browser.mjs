// Bundles the browser app into public/build/, where the assets binding serves it.
// wrangler runs this before `dev` and `deploy` ([build] in wrangler.toml).
import { copyFile, mkdir, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { build } from "esbuild";

// Chunk names carry a hash: a fresh folder leaves no stale chunk behind.
await rm("public/build", { recursive: true, force: true });
await build({
  entryPoints: { app: "src/clients/browser/app.ts", phone: "src/clients/phone-page/phone-app.ts" },
  outdir: "public/build",
  bundle: true,
  format: "esm",
  // Shared code and the link-code screen (loaded on demand) go in chunks of their own.
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  target: "es2022",
  minify: true,
  sourcemap: true,
  logLevel: "warning",
});

// The phone page's QR reader where the browser has no BarcodeDetector: served from our own origin, never a CDN.
await mkdir("public/build", { recursive: true });
await copyFile(createRequire(import.meta.url).resolve("zxing-wasm/reader/zxing_reader.wasm"), "public/build/zxing_reader.wasm");
