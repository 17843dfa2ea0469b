import { afterEach, describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/main.js";

/** The flags `gantry ratelimit` would start with, given these arguments and environment (nothing starts). */
async function flagsOf(args: string[], env: Record<string, string> = {}): Promise<{ localCache?: unknown }> {
  Object.assign(process.env, env);
  const program = buildProgram();
  const command = program.commands.find((c) => c.name() === "ratelimit");
  if (!command) throw new Error("no ratelimit subcommand");
  let flags: { localCache?: unknown } = {};
  command.action((parsed: { localCache?: unknown }) => {
    flags = parsed;
  });
  await program.parseAsync(["node", "gantry", "ratelimit", ...args]);
  return flags;
}

const variable = "GANTRY_RATELIMIT_NO_LOCAL_CACHE";

describe("gantry ratelimit's local cache switch", () => {
  afterEach(() => {
    delete process.env[variable];
  });

  it("is on by default and off with --no-local-cache", async () => {
    expect((await flagsOf([])).localCache).toBe(true);
    expect((await flagsOf(["--no-local-cache"])).localCache).toBe(false);
  });

  it("reads GANTRY_RATELIMIT_NO_LOCAL_CACHE as true or false, as the other switches", async () => {
    expect((await flagsOf([], { [variable]: "true" })).localCache).toBe(false);
    expect((await flagsOf([], { [variable]: "1" })).localCache).toBe(false);
    expect((await flagsOf([], { [variable]: "false" })).localCache).toBe(true);
    expect((await flagsOf([], { [variable]: "0" })).localCache).toBe(true);
  });

  it("refuses a value that is not true or false, naming the variable", async () => {
    await expect(flagsOf([], { [variable]: "maybe" })).rejects.toThrow(/GANTRY_RATELIMIT_NO_LOCAL_CACHE/);
  });
});
