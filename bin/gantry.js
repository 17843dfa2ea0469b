#!/usr/bin/env node
// The `gantry` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("gantry: not built yet. Run `npm install` in the Gantry checkout (it generates code and compiles).");
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
// A command that failed exits now, even if it had opened a port before failing: never a half-started server.
if (code !== 0) process.exit(code);
