// The config of `--workers N` crosses to each worker in parts: one IPC message is deserialized in
// one turn of the worker's event loop, so a large config sent whole held it (24 ms for 2,000 auth
// configs on an idle machine).
import { EventEmitter } from "node:events";
import { deserialize, serialize } from "node:v8";
import { describe, expect, it } from "vitest";
import type { ConfigSnapshot } from "../../src/config/index.js";
import { PrimaryConfigProvider, WorkerConfigBroadcast } from "../../src/config/index.js";
import { IpcChannel, type IpcPort } from "../../src/lib/index.js";

/** Two ends of a pipe that copy each message as `serialization: "advanced"` IPC does, one turn each. */
function pipe(): { primary: IpcPort; worker: IpcPort; sizes: number[] } {
  const sizes: number[] = [];
  const end = (to: () => EventEmitter, self: EventEmitter): IpcPort => ({
    send(message) {
      const bytes = serialize(message);
      sizes.push(bytes.length);
      setImmediate(() => to().emit("message", deserialize(bytes)));
      return true;
    },
    on: (event, listener) => self.on(event, listener),
    off: (event, listener) => self.off(event, listener),
  });
  const a = new EventEmitter();
  const b = new EventEmitter();
  return { primary: end(() => b, a), worker: end(() => a, b), sizes };
}

interface Config {
  configs: Array<{ id: string; steps: Array<{ users: Record<string, string> }> }>;
}

const bigConfig = (count: number): Config => ({
  configs: Array.from({ length: count }, (_, i) => ({
    id: `c${i}`,
    steps: [{ users: { alice: `{SHA}${"x".repeat(28)}${i}`, bob: `{SHA}${"y".repeat(28)}${i}` } }],
  })),
});

function worker(port: IpcPort, refuse?: (config: Config) => boolean) {
  const provider = new PrimaryConfigProvider<Config>(new IpcChannel(port));
  const committed: Array<ConfigSnapshot<Config>> = [];
  provider.subscribe({
    update: async (snapshot) => {
      committed.push(snapshot);
    },
    stage: async (snapshot) => {
      if (refuse?.(snapshot.config)) throw new Error("refused by the worker");
      return { commit: () => committed.push(snapshot), abort: async () => {} };
    },
    error: () => {},
  });
  return { provider, committed };
}

describe("WorkerConfigBroadcast and PrimaryConfigProvider", () => {
  it("sends a large config in parts no larger than a batch, and every worker installs it whole", async () => {
    const broadcast = new WorkerConfigBroadcast<Config>();
    const pipes = [pipe(), pipe()];
    const workers = pipes.map((p) => worker(p.worker));
    for (const p of pipes) broadcast.attach(new IpcChannel(p.primary));
    await Promise.all(workers.map((w) => w.provider.start()));

    const config = bigConfig(2_000);
    await broadcast.reload("v1", config);
    for (const w of workers) {
      expect(w.committed.map((s) => s.version)).toEqual(["v1"]);
      expect(w.committed[0]?.config).toEqual(config);
    }
    const whole = serialize(config).length;
    const largest = Math.max(...pipes.flatMap((p) => p.sizes));
    expect(whole).toBeGreaterThan(200_000);
    // Whole, it was one message of `whole` bytes; in parts, no message is more than a fraction of it.
    expect(largest).toBeLessThan(whole / 4);
  });

  it("installs nowhere when one worker refuses, and the next version still arrives whole", async () => {
    const broadcast = new WorkerConfigBroadcast<Config>();
    const [first, second] = [pipe(), pipe()];
    const pipes = [first, second];
    const workers = [worker(first.worker), worker(second.worker, (c) => c.configs.length === 3)];
    for (const p of pipes) broadcast.attach(new IpcChannel(p.primary));
    await Promise.all(workers.map((w) => w.provider.start()));

    await expect(broadcast.reload("v1", bigConfig(3))).rejects.toThrow(/refused by the worker/);
    for (const w of workers) expect(w.committed).toEqual([]);
    await broadcast.reload("v2", bigConfig(5));
    for (const w of workers) expect(w.committed.map((s) => [s.version, s.config.configs.length])).toEqual([["v2", 5]]);
  });
});
