import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/index.js";
import { parseRateLimitYaml } from "../../src/ratelimit/index.js";
import { waitFor } from "../support/index.js";
import { type Harness, startHarness } from "./harness.js";

const limitYaml = (n: number) =>
  `domain: files\ndescriptors:\n  - key: k\n    rate_limit: { unit: minute, requests_per_unit: ${n} }\n`;

describe("config from a directory", () => {
  let dir: string;
  let harness: Harness | undefined;
  let logLines: string[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-rl-config-"));
    logLines = [];
  });
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes like an editor or a ConfigMap update: a temporary file renamed into place. */
  function write(name: string, text: string): void {
    const scratch = join(dir, `.${name}.tmp`);
    writeFileSync(scratch, text);
    renameSync(scratch, join(dir, name));
  }

  async function start(): Promise<Harness> {
    const destination = new PassThrough();
    destination.on("data", (chunk: Buffer) => logLines.push(...chunk.toString().split("\n").filter(Boolean)));
    harness = await startHarness({
      configDir: dir,
      reloadDebounceMs: 20,
      logger: createLogger({ service: "ratelimit-test", destination }),
    });
    return harness;
  }

  const currentLimit = async (h: Harness) =>
    (await h.call("files", [[["k", "v"]]])).statuses[0]?.currentLimit?.requestsPerUnit;

  it("reloads on change, keeps the last good config on a bad file, and counts both", async () => {
    write("files.yaml", limitYaml(5));
    write("other.yml", "domain: other\n");
    const h = await start();
    expect(h.server.domains().sort()).toEqual(["files", "other"]);
    expect(await currentLimit(h)).toBe(5);

    write("files.yaml", limitYaml(7));
    await waitFor(async () => (await currentLimit(h)) === 7, { what: "the changed limit" });

    write("broken.yaml", "domain: files\n");
    await waitFor(async () => (await h.metric("gantry_ratelimit_config_loads_total", { result: "error" })) === 1, {
      what: "the bad load to be counted",
    });
    expect(await currentLimit(h)).toBe(7);
    const rejected = logLines.map((l) => JSON.parse(l)).find((l) => l.msg?.startsWith("rate-limit config rejected"));
    expect(rejected).toMatchObject({ file: join(dir, "files.yaml"), field: "domain" });
    expect(rejected.problem).toContain(`duplicate domain "files" (also in ${join(dir, "broken.yaml")})`);

    write("broken.yaml", "domain: fixed\nbogus: 1\n");
    await waitFor(async () => (await h.metric("gantry_ratelimit_config_loads_total", { result: "error" })) === 2, {
      what: "the second bad load",
    });
    expect(logLines.map((l) => JSON.parse(l)).at(-1)).toMatchObject({
      file: join(dir, "broken.yaml"),
      line: 2,
      field: "bogus",
      problem: expect.stringContaining("unknown field"),
    });

    rmSync(join(dir, "broken.yaml"));
    write("files.yaml", limitYaml(9));
    await waitFor(async () => (await currentLimit(h)) === 9, { what: "the fixed config" });
    expect(await h.metric("gantry_ratelimit_config_loads_total", { result: "success" })).toBeGreaterThanOrEqual(3);
  });

  it("starts without a bad config (calls answered UNKNOWN, as envoyproxy/ratelimit), naming the file, until it is fixed", async () => {
    write("bad.yaml", "domain: x\ndescriptors:\n  - key: k\n    rate_limit: { unit: fortnight }\n");
    const h = await start();
    expect(h.server.domains()).toEqual([]);
    await expect(h.call("x", [[["k", "v"]]])).rejects.toMatchObject({
      code: 2,
      details: "no rate limit configuration loaded",
    });
    expect(await h.metric("gantry_ratelimit_config_loads_total", { result: "error" })).toBe(1);
    expect(
      logLines.map((l) => JSON.parse(l)).find((l) => l.msg?.startsWith("rate-limit config rejected")),
    ).toMatchObject({ file: join(dir, "bad.yaml"), line: 4, field: "descriptors[0].rate_limit.unit" });
    write("bad.yaml", limitYaml(4));
    await waitFor(async () => (await currentLimit(h).catch(() => undefined)) === 4, { what: "the fixed config" });
  });

  it("takes configs from another source and swaps them whole", async () => {
    write("files.yaml", limitYaml(5));
    const h = await start();
    const good = parseRateLimitYaml(limitYaml(11), "xds/files");
    const bad = parseRateLimitYaml("domain: files\n", "xds/dup");
    expect(() => h.server.setConfigs([good, bad])).toThrow('xds/dup: domain: duplicate domain "files"');
    expect(await currentLimit(h)).toBe(5);
    h.server.setConfigs([good]);
    expect(await currentLimit(h)).toBe(11);
  });
});
