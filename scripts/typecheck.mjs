// Typechecks each part against its own tsconfig: a file importing across a
// boundary the layout forbids (shared → worker, worker → a client, …) fails.
import { execFileSync } from "node:child_process";

const projects = [
  "src/shared",
  "src/worker",
  "src/clients/connection",
  "src/clients/browser",
  "src/clients/phone-core",
  "src/clients/phone-page",
  "src/clients/phone-cli",
  "test/worker",
  "test/unit",
  "tsconfig.node.json",
];

let failed = false;
for (const project of projects) {
  try {
    execFileSync("node_modules/.bin/tsc", ["-p", project], { stdio: "inherit" });
  } catch {
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
