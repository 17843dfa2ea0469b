import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { lastKnownGoodFile, loadLastKnownGood, saveLastKnownGood } from "../../src/agent/index.js";
import { rawResource } from "../../src/envoy/index.js";
import { clusterOutput } from "../../src/server/relay/index.js";

const output = clusterOutput(
  {
    groups: [
      {
        name: "mc/gw",
        proxies: { labels: { app: "mc" }, nodeIds: [] },
        resources: [
          rawResource("type.googleapis.com/envoy.config.listener.v3.Listener", "l", new Uint8Array([1, 2, 3])),
        ],
      },
    ],
    authConfigs: [],
    rateLimitConfigs: [],
  },
  "east",
);

describe("last-known-good output", () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), "gantry-lkg-"));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("reads back what was saved, and leaves no temporary file", async () => {
    const d = dir();
    await saveLastKnownGood(d, { output, receivedAtMs: 1_700_000_000_000, server: "first" });
    expect(readdirSync(d)).toEqual([lastKnownGoodFile]);
    const loaded = await loadLastKnownGood(d);
    expect(loaded?.output.version).toBe(output.version);
    expect(loaded?.receivedAtMs).toBe(1_700_000_000_000);
    expect([...(loaded?.output.entries.values() ?? [])].map((e) => [...e.resource.value])).toEqual([[1, 2, 3]]);
  });

  it("is nothing when there is no file", async () => {
    expect(await loadLastKnownGood(dir())).toBeUndefined();
  });

  it("refuses a file whose bytes no longer match their versions, naming it", async () => {
    const d = dir();
    await saveLastKnownGood(d, { output, receivedAtMs: 1, server: "first" });
    const path = join(d, lastKnownGoodFile);
    const form = JSON.parse(readFileSync(path, "utf8")) as { entries: Array<{ value: string }> };
    const [entry] = form.entries;
    if (entry) entry.value = Buffer.from([9, 9, 9]).toString("base64");
    writeFileSync(path, JSON.stringify(form));
    await expect(loadLastKnownGood(d)).rejects.toThrow(`${path}: entry "group/mc/gw/`);
    writeFileSync(path, "{not json");
    await expect(loadLastKnownGood(d)).rejects.toThrow(`${path}: not JSON`);
  });
});
