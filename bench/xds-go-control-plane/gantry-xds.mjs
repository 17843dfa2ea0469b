// The Gantry side of bench/xds-go-control-plane: Gantry's snapshot cache and xDS server (ADS SotW
// and delta, proxy status, per-client ACK ledger and metrics, as `gantry server` runs them), with
// every node in one snapshot group, serving the snapshot files run.mjs writes. The same commands
// as the Go server, one JSON object per line on stdin and stdout:
//   {"op":"load","file":F} → {}      {"op":"set"} → {"at": unix ms just before publishing}
//   {"op":"heap"} → {"heapMiB": V8 heap used after a full GC} (with --expose-gc)
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { rawResource } from "../../dist/envoy/index.js";
import { createLogger, createRegistry } from "../../dist/lib/index.js";
import { Snapshot, SnapshotCache, startXdsServer } from "../../dist/xds/index.js";

function load(file) {
  const data = readFileSync(file);
  const resources = [];
  for (let at = 0; at < data.length; ) {
    const text = () => {
      const length = data.readUInt16BE(at);
      const value = data.toString("utf8", at + 2, at + 2 + length);
      at += 2 + length;
      return value;
    };
    const typeUrl = text();
    const name = text();
    const length = data.readUInt32BE(at);
    resources.push(rawResource(typeUrl, name, data.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return Snapshot.of(resources);
}

const cache = new SnapshotCache({ nodeGroupOf: () => "bench" });
const server = await startXdsServer({
  cache,
  host: "127.0.0.1",
  port: 0,
  logger: createLogger({ service: "xds-bench", level: "warn" }),
  registry: createRegistry("xds-bench", { processMetrics: false }),
  limits: { maxConnections: 20_000, maxTotalStreams: 20_000 },
});
const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
say({ port: server.port });
let loaded;
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.op === "load") {
    loaded = load(command.file);
    say({});
  } else if (command.op === "set") {
    const at = performance.timeOrigin + performance.now();
    cache.setSnapshot("bench", loaded);
    say({ at });
  } else if (command.op === "heap") {
    globalThis.gc?.();
    say({ heapMiB: process.memoryUsage().heapUsed / 2 ** 20 });
  }
}
await server.stop(100);
