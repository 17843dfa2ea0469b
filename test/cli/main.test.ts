import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runGantry } from "../support/cli.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const gantry = (...args: string[]) => runGantry(args, { timeoutMs: 15_000 });

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
