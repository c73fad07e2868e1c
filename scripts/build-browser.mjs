// Bundles the browser app into public/build/, where the assets binding serves it.
// wrangler runs this before `dev` and `deploy` ([build] in wrangler.toml).
import { build } from "esbuild";

await build({
  entryPoints: { app: "src/clients/browser/app.ts", phone: "src/clients/phone-page/phone-app.ts" },
  outdir: "public/build",
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  logLevel: "warning",
});
