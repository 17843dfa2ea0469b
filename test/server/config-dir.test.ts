import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { WorkerPool } from "../../src/lib/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { ConfigDirSource } from "../../src/server/config-dir.js";
import { MemoryStore } from "../../src/store/index.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });

const destination = (name: string, port: number) => `apiVersion: gantry/v1
kind: Destination
metadata:
  name: ${name}
spec:
  ports: [{ number: ${port} }]
  endpoints: [{ address: 10.0.0.1 }]
`;

describe("config-dir source", () => {
  let dir = "";
  let store: MemoryStore;
  let source: ConfigDirSource | undefined;
  const pool = new WorkerPool();
  afterAll(() => pool.close());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-config-"));
    store = new MemoryStore();
  });

  afterEach(() => {
    source?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const names = async () => (await store.list()).map((r) => `${r.key.name}:${JSON.stringify(r.document.spec)}`);

  it("loads a folder tree and applies every valid document", async () => {
    mkdirSync(join(dir, "team-a"));
    writeFileSync(join(dir, "a.yaml"), destination("alpha", 80));
    writeFileSync(join(dir, "team-a", "b.yml"), `${destination("beta", 81)}---\n${destination("gamma", 82)}`);
    writeFileSync(join(dir, "notes.txt"), "not a resource");
    source = new ConfigDirSource({ dir, store, pool, logger });
    const result = await source.load();
    expect(result.applied.map((k) => k.name).sort()).toEqual(["alpha", "beta", "gamma"]);
    expect(result.rejected).toEqual([]);
  });

  it("keeps the last good version of a resource whose document turns bad, and deletes what is removed", async () => {
    writeFileSync(join(dir, "a.yaml"), destination("alpha", 80));
    writeFileSync(join(dir, "b.yaml"), destination("beta", 81));
    source = new ConfigDirSource({ dir, store, pool, logger });
    await source.load();

    writeFileSync(join(dir, "a.yaml"), destination("alpha", 80).replace("ports:", "portz:"));
    unlinkSync(join(dir, "b.yaml"));
    const result = await source.load();
    expect(result.rejected).toHaveLength(1);
    expect(result.rejected[0]?.errors.join("\n")).toMatch(/a\.yaml:\d+: Destination default\/alpha: spec\.portz/);
    expect(result.deleted.map((k) => k.name)).toEqual(["beta"]);
    expect(await names()).toEqual(['alpha:{"ports":[{"number":80}],"endpoints":[{"address":"10.0.0.1"}]}']);
  });

  it("reloads when the folder changes", async () => {
    writeFileSync(join(dir, "a.yaml"), destination("alpha", 80));
    const loads: number[] = [];
    source = new ConfigDirSource({ dir, store, pool, logger, onLoad: (r) => loads.push(r.applied.length) });
    await source.start();
    writeFileSync(join(dir, "a.yaml"), destination("alpha", 8080));
    await waitFor(async () => (await names()).some((n) => n.includes("8080")), {
      what: "the reload after a file change",
    });
    expect(loads.length).toBeGreaterThanOrEqual(2);
  });
});
