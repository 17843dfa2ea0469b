import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { expect } from "vitest";

/**
 * Golden files: expected output kept in the repository as JSON. A test never writes its own
 * golden unless asked: a missing golden fails like a wrong one, so a renamed case or a forgotten
 * `git add` cannot pass silently. `UPDATE_GOLDENS=1` (re)writes every golden the run reaches;
 * review the diff before committing it.
 */

/** Whether this run (re)writes goldens: only with `UPDATE_GOLDENS=1`. */
export function updatingGoldens(env: NodeJS.ProcessEnv = process.env): boolean {
  return env["UPDATE_GOLDENS"] === "1";
}

/**
 * Asserts that `actual` equals the JSON in `file`, compared as data (the formatter may lay the
 * file out as it likes). When updating, writes `actual` there first.
 */
export function expectGolden(file: string, actual: unknown, env: NodeJS.ProcessEnv = process.env): void {
  if (updatingGoldens(env)) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
  if (!existsSync(file)) {
    throw new Error(`golden file ${file} is missing: run the test with UPDATE_GOLDENS=1 to write it, then review it`);
  }
  expect(actual).toEqual(JSON.parse(readFileSync(file, "utf8")));
}
