import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

async function gantry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("gantry CLI (built by npm install)", () => {
  it("prints its version", async () => {
    const result = await gantry("--version");
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it("prints help", async () => {
    const result = await gantry("--help");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Usage: gantry");
  });

  it("fails with a usage hint on an unknown command", async () => {
    const result = await gantry("no-such-command");
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unknown command|too many arguments/);
    expect(result.stderr).toContain("--help");
  });
});
