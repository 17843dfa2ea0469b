// Benchmark: how the xDS server scales with connected ADS streams, and what delta saves on the wire.
// The server runs in its own process; light simulated clients (raw node:http2 gRPC streams) run in
// another. Loopback only; every wait is bounded and the whole run stops itself.
//   npm run build && node bench/xds-scale/scale.mjs
// Writes bench/results/xds-scale.md.
import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const resultFile = join(here, "..", "results", "xds-scale.md");
const fleetSizes = [1_000, 5_000];
const streamsPerConnection = 100;
const changesPerSize = 7;
const hardLimitMs = 8 * 60_000;

const hardStop = setTimeout(() => {
  console.error(`xds-scale: still running after ${hardLimitMs / 60_000} min; stopping`);
  for (const child of children) child.kill("SIGKILL");
  process.exit(1);
}, hardLimitMs);
hardStop.unref();

const children = new Set();

/** A child process answering IPC requests: `ask(op, reply op)` resolves with the reply. */
function start(script, execArgv = [], args = []) {
  const child = fork(join(here, script), args, { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.add(child);
  const waiting = new Map();
  child.on("message", (message) => {
    const resolve = waiting.get(message.op);
    if (resolve) {
      waiting.delete(message.op);
      resolve(message);
    }
  });
  child.on("exit", (code) => {
    children.delete(child);
    for (const [op] of waiting) console.error(`${script} exited (${code}) while waiting for ${op}`);
  });
  const next = (op, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script}: no ${op} within ${timeoutMs} ms`)), timeoutMs);
      waiting.set(op, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  return {
    child,
    next,
    ask: (message, reply, timeoutMs) => {
      const answer = next(reply, timeoutMs);
      child.send(message);
      return answer;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.send({ op: "stop" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const mib = (bytes) => bytes / 1024 / 1024;
const kib = (bytes) => bytes / 1024;

async function measureFleet(size) {
  const server = start("server.mjs", ["--expose-gc"]);
  const { port, fleet } = await server.next("ready");
  const before = await server.ask({ op: "memory" }, "memory");
  const clients = start("clients.mjs");
  await clients.next("ready");
  const started = performance.now();
  await clients.ask({ op: "fleet", port, streams: size, streamsPerConnection, offset: 0, fleet }, "fleet-opened");
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { count } = await server.ask({ op: "acked" }, "acked");
    if (count >= size) break;
    if (Date.now() > deadline) throw new Error(`only ${count} of ${size} streams synced within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const syncMs = performance.now() - started;
  const after = await server.ask({ op: "memory" }, "memory");
  const allAcked = [];
  const latencies = [];
  for (let i = 0; i < changesPerSize; i++) {
    const { latencies: each } = await server.ask({ op: "change", expected: size }, "changed", 30_000);
    each.sort((a, b) => a - b);
    allAcked.push(each[each.length - 1]);
    latencies.push(...each);
  }
  latencies.sort((a, b) => a - b);
  allAcked.sort((a, b) => a - b);
  await clients.stop();
  await server.stop();
  return {
    size,
    syncMs,
    heapPerStream: (after.heapUsed - before.heapUsed) / size,
    rssPerStream: (after.rss - before.rss) / size,
    heapTotal: after.heapUsed,
    rssTotal: after.rss,
    allAckedP50: percentile(allAcked, 50),
    allAckedMax: allAcked[allAcked.length - 1],
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function measureBytes(wholeSotw) {
  const server = start("server.mjs", [], wholeSotw ? ["--whole-sotw"] : []);
  const { port, big } = await server.next("ready");
  const clients = start("clients.mjs");
  await clients.next("ready");
  await clients.ask({ op: "bytes", port, big }, "bytes-opened");
  const deadline = Date.now() + 30_000;
  while ((await clients.ask({ op: "counters" }, "counters")).responses < 4) {
    if (Date.now() > deadline) throw new Error("the 1,000-cluster streams did not sync within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await clients.ask({ op: "mark" }, "marked");
  await server.ask({ op: "bytes-change" }, "bytes-changed", 30_000);
  const counters = await clients.ask({ op: "counters" }, "counters");
  await clients.stop();
  await server.stop();
  return { sotw: counters.sotwBytes, delta: counters.deltaBytes };
}

const loadAtStart = loadavg()[0];
const fleets = [];
for (const size of fleetSizes) {
  console.log(`xds-scale: ${size} streams…`);
  fleets.push(await measureFleet(size));
}
console.log("xds-scale: wire bytes, SotW vs delta…");
const partialBytes = await measureBytes(false);
const wholeBytes = await measureBytes(true);
const bytes = { whole: wholeBytes.sotw, partial: partialBytes.sotw, delta: partialBytes.delta };
clearTimeout(hardStop);

const cpu = cpus()[0]?.model ?? "unknown CPU";
const biggest = fleets[fleets.length - 1];
const smallest = fleets[0];
const lines = [
  "# xDS server: streams, convergence and wire size",
  "",
  `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpus().length} CPUs (${cpu}), ${mib(totalmem()).toFixed(0)} MiB memory, Node ${process.version}.`,
  `Load average (1 min) at start and end: ${loadAtStart.toFixed(1)} and ${loadavg()[0].toFixed(1)}; above ${cpus().length}, other work shared the CPUs and the times are inflated.`,
  "",
  `Setup: the xDS server in one process; light simulated Envoys (raw node:http2 gRPC streams, ${streamsPerConnection} per connection)`,
  "in another, on loopback. Each stream subscribes like Envoy: CDS and LDS wildcard, EDS for 10 clusters and RDS for one route",
  "configuration (10 virtual hosts) by name, and ACKs every response. All streams share one snapshot group.",
  `Per fleet size: memory is the server's heap and RSS after GC, before connecting and once every stream ACKed its routes;`,
  `then ${changesPerSize} times one route's prefix changes and the server times publish → each stream's RDS ACK (as the server receives it).`,
  "",
  "| streams | initial sync (all ACKed) | server heap / stream | server RSS / stream | server heap total | change → all ACKed, median of runs | worst run | per-stream ACK p50 | p99 |",
  "|---|---|---|---|---|---|---|---|---|",
  ...fleets.map(
    (f) =>
      `| ${f.size.toLocaleString("en")} | ${(f.syncMs / 1000).toFixed(2)} s | ${kib(f.heapPerStream).toFixed(1)} KiB | ${kib(f.rssPerStream).toFixed(1)} KiB | ${mib(f.heapTotal).toFixed(0)} MiB | ${f.allAckedP50} ms | ${f.allAckedMax} ms | ${f.p50} ms | ${f.p99} ms |`,
  ),
  "",
  `Ratios ${biggest.size.toLocaleString("en")} vs ${smallest.size.toLocaleString("en")} streams: heap per stream ${(biggest.heapPerStream / smallest.heapPerStream).toFixed(2)}×, change → all ACKed ${(biggest.allAckedP50 / Math.max(1, smallest.allAckedP50)).toFixed(2)}×.`,
  "",
  "## One endpoint changes in a 1,000-cluster snapshot",
  "",
  "One SotW and one delta ADS stream, each subscribed to the 1,000 clusters (CDS) and their 1,000 ClusterLoadAssignments (EDS, 3 endpoints each);",
  "one cluster's endpoints move. Bytes are the gRPC messages the client received for that change (5-byte prefix included; HTTP/2 frame headers not counted).",
  "",
  "| protocol | bytes received for the change | vs SotW whole set |",
  "|---|---|---|",
  `| SotW, whole subscribed set in every response (\`partialSotwUpdates: false\`) | ${bytes.whole.toLocaleString("en")} | 1.00× |`,
  `| SotW, only what changed for EDS/RDS (Gantry's default) | ${bytes.partial.toLocaleString("en")} | ${(bytes.partial / bytes.whole).toFixed(4)}× |`,
  `| delta | ${bytes.delta.toLocaleString("en")} | ${(bytes.delta / bytes.whole).toFixed(4)}× |`,
  "",
  "## Goals",
  "",
  `- ${biggest.size.toLocaleString("en")} streams in one process: ${biggest.size >= 5_000 ? "met" : "not measured"} (server heap ${mib(biggest.heapTotal).toFixed(0)} MiB, RSS ${mib(biggest.rssTotal).toFixed(0)} MiB).`,
  `- One-route change ACKed by all ${biggest.size.toLocaleString("en")} in ≤ 2 s: ${biggest.allAckedMax <= 2_000 ? "met" : "not met"} (worst of ${changesPerSize} runs ${biggest.allAckedMax} ms).`,
  `- Delta bytes ≤ 1% of SotW (whole set): ${bytes.delta <= bytes.whole * 0.01 ? "met" : "not met"} (${((bytes.delta / bytes.whole) * 100).toFixed(2)}%).`,
  "",
];
writeFileSync(resultFile, lines.join("\n"));
console.log(lines.join("\n"));
