#!/usr/bin/env node
// Runs before `npm start` and `npm test`: on a fresh clone, installs the npm dependencies (which
// also generates code and compiles). Uses only Node built-ins, since node_modules may not exist yet.
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const marker = join(root, "node_modules", ".package-lock.json");
const lock = join(root, "package-lock.json");
const built = join(root, "dist", "cli", "main.js");

const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  console.log("gantry: installing npm dependencies (npm ci)...");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
} else if (
  !existsSync(built) ||
  !existsSync(join(root, "src", "gen")) ||
  !existsSync(join(root, "dist", "ui", "index.html")) ||
  !existsSync(join(root, "dist", "portal", "pages", "index.html"))
) {
  console.log("gantry: generating code and compiling...");
  execFileSync("npm", ["run", "prepare"], { cwd: root, stdio: "inherit" });
}
