import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FileText, fileProvider, type WatchedProvider } from "../../src/config/index.js";
import { ManualClock } from "../../src/lib/clock.js";
import { waitFor } from "../support/wait.js";
import { record } from "./recorder.js";

/** A config file of `key: number` lines; anything else is an error naming the file and line. */
function parseNumbers({ path, text }: FileText): Record<string, number> {
  const out: Record<string, number> = {};
  text
    .split("\n")
    .filter(Boolean)
    .forEach((line, i) => {
      const [key, value] = line.split(":").map((part) => part.trim());
      if (!key || value === undefined || !/^\d+$/.test(value))
        throw new Error(`${path}:${i + 1}: expected key: number`);
      out[key] = Number(value);
    });
  return out;
}

describe("file provider", () => {
  let dir: string;
  let file: string;
  let clock: ManualClock;
  let provider: WatchedProvider<Record<string, number>> | undefined;

  /** Writes like an editor or a ConfigMap: aside, then renamed over. */
  const write = (text: string) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };
  /** Waits for the watcher to see a change, then lets the quiet period pass. */
  const settle = async () => {
    await waitFor(() => clock.pendingTimers > 0, { what: "the change to be noticed" });
    clock.advance(100);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-config-file-"));
    file = join(dir, "limits.yaml");
    clock = new ManualClock();
  });
  afterEach(async () => {
    await provider?.stop();
    provider = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    provider = fileProvider({ file, parse: parseNumbers, timers: clock });
    const seen = record(provider, (config) => config["refuse"] !== undefined);
    await provider.start();
    return { provider, seen };
  };

  it("offers the file at start, then each change once things are quiet, versioned by content", async () => {
    write("a: 1\n");
    const { provider, seen } = await start();
    expect(seen.snapshots.map((s) => s.config)).toEqual([{ a: 1 }]);
    expect(provider.current()?.version).toBe(seen.snapshots[0]?.version);

    write("a: 2\n");
    write("a: 3\n");
    await settle();
    await waitFor(() => seen.snapshots.length === 2, { what: "the reload" });
    expect(seen.snapshots[1]?.config).toEqual({ a: 3 });
    expect(seen.snapshots[1]?.version).not.toBe(seen.snapshots[0]?.version);
    expect(clock.pendingTimers).toBe(0);
  });

  it("waits for the quiet period: a change inside it starts the wait again", async () => {
    write("a: 1\n");
    const { seen } = await start();
    write("a: 2\n");
    await waitFor(() => clock.pendingTimers > 0, { what: "the change to be noticed" });
    clock.advance(99);
    expect(seen.snapshots).toHaveLength(1);
    clock.advance(1);
    await waitFor(() => seen.snapshots.length === 2, { what: "the reload" });
  });

  it("makes no snapshot for a write that leaves the content as it was", async () => {
    write("a: 1\n");
    const { provider, seen } = await start();
    write("a: 1\n");
    await settle();
    await provider.refresh(); // asked for: offered again, even unchanged
    expect(seen.snapshots).toHaveLength(2);
    write("a: 1\n");
    await settle();
    write("a: 4\n");
    await settle();
    await waitFor(() => seen.snapshots.at(-1)?.config["a"] === 4, { what: "the real change" });
    expect(seen.snapshots).toHaveLength(3);
  });

  it("reports a bad file and keeps the current snapshot; a refused one stays out too", async () => {
    write("a: 1\n");
    const { provider, seen } = await start();
    const first = provider.current();
    write("a: one\n");
    await settle();
    await waitFor(() => seen.errors.length === 1, { what: "the error" });
    expect(seen.errors[0]?.message).toBe(`${file}:1: expected key: number`);
    expect(provider.current()).toBe(first);

    write("refuse: 1\n");
    await settle();
    await expect(provider.refresh()).rejects.toThrow(/^refused /);
    expect(provider.current()).toBe(first);
    expect(seen.errors).toHaveLength(1);
  });

  it("does not miss a change made while the first snapshot was being taken", async () => {
    write("a: 1\n");
    let edited = false;
    provider = fileProvider({
      file,
      timers: clock,
      parse: (input) => {
        // An edit lands after the first read, before the folder is watched.
        if (!edited) write("a: 2\n");
        edited = true;
        return parseNumbers(input);
      },
    });
    const seen = record(provider);
    await provider.start();
    expect(seen.snapshots.map((s) => s.config)).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it("refuses to start on a missing or bad file", async () => {
    await expect(start()).rejects.toThrow(/ENOENT/);
    write("a: x\n");
    await expect(start()).rejects.toThrow(`${file}:1: expected key: number`);
  });

  it("follows a ConfigMap volume, where only the ..data link is swapped", async () => {
    const mount = (version: string, text: string) => {
      mkdirSync(join(dir, version));
      writeFileSync(join(dir, version, "limits.yaml"), text);
      symlinkSync(version, join(dir, "..data_tmp"));
      renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    };
    mount("..v1", "a: 1\n");
    symlinkSync(join("..data", "limits.yaml"), file);
    const { seen } = await start();
    mount("..v2", "a: 2\n");
    await settle();
    await waitFor(() => seen.snapshots.length === 2, { what: "the reload through the swapped link" });
    expect(seen.snapshots[1]?.config).toEqual({ a: 2 });
  });
});
