import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Project-local tools (Go binaries installed by scripts/test-prereqs.mjs) live here. */
export const localBin = fileURLToPath(new URL("../../.cache/bin", import.meta.url));

const searchPath = [localBin, ...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];

/** The absolute path of an executable, or undefined when it is not installed. */
export function findTool(name: string): string | undefined {
  for (const dir of searchPath) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export const inCI = process.env["CI"] === "true";

/**
 * Finds a tool a test suite needs. Missing locally: the suite skips, saying what to install.
 * Missing under CI=true: the run fails, because in CI nothing may be skipped.
 */
export function needTool(name: string, install: string): string | undefined {
  const path = findTool(name);
  if (path) return path;
  const message = `${name} is not installed; ${install}`;
  if (inCI) throw new Error(`CI=true and ${message}`);
  console.warn(`skipping: ${message}`);
  return undefined;
}
