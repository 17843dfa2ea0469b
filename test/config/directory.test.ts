import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { directoryProvider, type WatchedProvider } from "../../src/config/index.js";
import { ManualClock } from "../../src/lib/clock.js";
import { waitFor } from "../support/wait.js";
import { record } from "./recorder.js";

describe("directory provider", () => {
  let dir: string;
  let clock: ManualClock;
  let provider: WatchedProvider<string[]> | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-config-dir-"));
    clock = new ManualClock();
  });
  afterEach(async () => {
    await provider?.stop();
    provider = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Each file as `relative path=text`, so a test sees what was read and in which order. */
  const start = async (recursive: boolean) => {
    provider = directoryProvider({
      dir,
      recursive,
      accept: (name) => name.endsWith(".yaml"),
      parse: (files) => files.map((f) => `${f.path.slice(dir.length + 1)}=${f.text}`),
      timers: clock,
    });
    const seen = record(provider);
    await provider.start();
    return seen;
  };
  const settle = async () => {
    await waitFor(() => clock.pendingTimers > 0, { what: "the change to be noticed" });
    clock.advance(100);
  };

  it("reads the accepted files in name order as one snapshot, folders only when recursive", async () => {
    writeFileSync(join(dir, "b.yaml"), "2");
    writeFileSync(join(dir, "a.yaml"), "1");
    writeFileSync(join(dir, "notes.txt"), "x");
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "c.yaml"), "3");
    expect((await start(false)).snapshots[0]?.config).toEqual(["a.yaml=1", "b.yaml=2"]);
    await provider?.stop();
    expect((await start(true)).snapshots[0]?.config).toEqual(["a.yaml=1", "b.yaml=2", "sub/c.yaml=3"]);
  });

  it("makes a new version of the whole when any file changes, is added or removed", async () => {
    writeFileSync(join(dir, "a.yaml"), "1");
    const seen = await start(true);
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "b.yaml"), "2");
    await settle();
    await waitFor(() => seen.snapshots.length === 2, { what: "the added file" });
    unlinkSync(join(dir, "a.yaml"));
    await settle();
    await waitFor(() => seen.snapshots.length === 3, { what: "the removed file" });
    expect(seen.snapshots.map((s) => s.config)).toEqual([["a.yaml=1"], ["a.yaml=1", "sub/b.yaml=2"], ["sub/b.yaml=2"]]);
    expect(new Set(seen.snapshots.map((s) => s.version)).size).toBe(3);
  });

  it("reads a mounted ConfigMap's keys once each, and again after kubelet's atomic swap", async () => {
    // As kubelet's atomic writer lays a ConfigMap volume out: the files in a `..<timestamp>` folder,
    // `..data` linking to it, and each key a link to `..data/<key>`.
    const writeVersion = (stamp: string, files: Record<string, string>) => {
      mkdirSync(join(dir, stamp));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, stamp, name), text);
      symlinkSync(stamp, join(dir, "..data_tmp"));
      renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    };
    writeVersion("..2026_12_03_18_00_00.000000001", { "a.yaml": "1", "b.yaml": "2" });
    for (const key of ["a.yaml", "b.yaml"]) symlinkSync(join("..data", key), join(dir, key));
    const seen = await start(true);
    expect(seen.snapshots[0]?.config).toEqual(["a.yaml=1", "b.yaml=2"]);

    writeVersion("..2026_12_03_18_05_00.000000002", { "a.yaml": "1", "b.yaml": "3" });
    rmSync(join(dir, "..2026_12_03_18_00_00.000000001"), { recursive: true });
    await settle();
    await waitFor(() => seen.snapshots.length === 2, { what: "the swapped ConfigMap" });
    expect(seen.snapshots[1]?.config).toEqual(["a.yaml=1", "b.yaml=3"]);
    expect(seen.errors).toEqual([]);
  });

  it("reports a folder it cannot read, naming it", async () => {
    const seen = await start(false);
    rmSync(dir, { recursive: true });
    await expect(provider?.refresh()).rejects.toThrow(`${dir}: cannot read the config directory: ENOENT`);
    expect(seen.errors.map((e) => e.message)).toEqual([expect.stringContaining(`${dir}: cannot read`)]);
    expect(provider?.current()?.config).toEqual([]);
  });
});
