// Benchmark: ShouldRateLimit on a single Redis and on a Redis Cluster, side by side in one run:
//   - Gantry (`gantry ratelimit`, built dist/) on one redis-server (redis://),
//   - Gantry on a 3-master Redis Cluster (redis+cluster://),
//   - envoyproxy/ratelimit (src/service_cmd) on the same Cluster, configured for production there:
//     REDIS_TYPE=cluster and REDIS_PIPELINE_WINDOW (its write-flush window, which its settings say
//     cluster mode requires), local over-limit cache on.
// Same config file for all; load from bench/loadgen at a fixed concurrency, loopback only; rounds go
// round-robin over the servers (fresh process, Redis flushed), medians with their spread.
//   npm run build && node bench/ratelimit/cluster.mjs [--quick] [--rounds N] [--baseline DIR]
// --baseline DIR [--baseline-label TEXT] adds a row for another built Gantry checkout (its bin/gantry.js
// and dist/) on the same Cluster, for a before/after comparison in the same run.
// BENCH_PROFILE_DIR=/tmp/prof also makes each Gantry process write a V8 CPU profile there when it stops.
// Writes bench/results/ratelimit-cluster.md (--quick: ratelimit-cluster.quick.md, not a result).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { RateLimitRequestSchema } from "../../dist/gen/envoy/service/ratelimit/v3/rls_pb.js";
import {
  buildLoadgen,
  findTool,
  freePort,
  grpcFrames,
  runLoadgen,
  startReady,
  treeCpuSeconds,
  until,
} from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const quick = process.argv.includes("--quick");
const roundsArg = process.argv.indexOf("--rounds");
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : quick ? 1 : 5;
const baselineArg = process.argv.indexOf("--baseline");
const baseline = baselineArg > 0 ? process.argv[baselineArg + 1] : undefined;
const labelArg = process.argv.indexOf("--baseline-label");
const baselineLabel = labelArg > 0 ? process.argv[labelArg + 1] : "baseline";
const load = { concurrency: 64, connections: 4, warmup: quick ? "1s" : "2s", duration: quick ? "2s" : "6s" };
/** envoyproxy/ratelimit's settings say 150us–500us; the low end, for the lowest latency. */
const pipelineWindow = "150us";

/** A loaded machine starts a Redis Cluster and Gantry's workers slowly. */
const startTimeoutMs = 120_000;

const start = (name, command, args, env, ready) => startReady(name, command, args, env, ready, startTimeoutMs);

const httpOk = async (url) => (await fetch(url)).ok;

/** A port P free together with P + 10000, Redis Cluster's bus port. */
async function freeClusterPort() {
  const free = (port) =>
    new Promise((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if ((await free(port)) && (await free(port + 10_000))) return port;
  }
  throw new Error("no free port pair for a Redis Cluster node");
}

const config = `domain: bench
descriptors:
  - key: remote_address
    rate_limit:
      unit: minute
      requests_per_unit: 1000000000
`;

const descriptor = (value) => ({ domain: "bench", descriptors: [{ entries: [{ key: "remote_address", value }] }] });
/** 0..999 in a shuffled order (a fixed one, so every run sends the same sequence). */
const addresses = Array.from({ length: 1000 }, (_, i) => (i * 617) % 1000);
const scenarios = [
  { name: "1,000 distinct keys", requests: addresses.map((i) => descriptor(`10.0.${i}`)) },
  { name: "one shared key", requests: [descriptor("10.9.9.9")] },
];

// Every process of a server counts (Gantry's primary and its workers): before, only the primary was
// read, and Gantry's `--workers` default showed ~0 CPU per call.
const cpuSeconds = treeCpuSeconds;

const loadBefore = loadavg()[0];
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main() {
  const redisServer = findTool("redis-server");
  const redisCli = findTool("redis-cli");
  if (!redisServer || !redisCli)
    throw new Error("redis-server and redis-cli are needed (apt-get install redis-server)");
  const serviceCmd = findTool("service_cmd");
  if (!serviceCmd)
    throw new Error("service_cmd (envoyproxy/ratelimit) is needed in .cache/bin: run bench/ratelimit/run.mjs once");
  buildLoadgen();
  const work = mkdtempSync(join(tmpdir(), "gantry-rl-cluster-bench-"));
  const configDir = join(work, "ratelimit", "config");
  mkdirSync(configDir, { recursive: true });
  writeFileSync(join(configDir, "bench.yaml"), config);
  const cli = (port, ...args) =>
    execFileSync(redisCli, ["-p", String(port), ...args], { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  const redisArgs = (port, extra = []) => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    work,
    ...extra,
  ];
  const redisProcs = [];
  const singlePort = await freePort();
  redisProcs.push(
    await start("redis-server", redisServer, redisArgs(singlePort), {}, () => cli(singlePort, "PING") === "PONG"),
  );
  const clusterPorts = [];
  for (let i = 0; i < 3; i++) {
    const port = await freeClusterPort();
    clusterPorts.push(port);
    redisProcs.push(
      await start(
        `redis cluster node :${port}`,
        redisServer,
        redisArgs(port, ["--cluster-enabled", "yes", "--cluster-config-file", join(work, `nodes-${port}.conf`)]),
        {},
        () => cli(port, "PING") === "PONG",
      ),
    );
  }
  execFileSync(
    redisCli,
    ["--cluster", "create", ...clusterPorts.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
    { stdio: "ignore" },
  );
  for (const port of clusterPorts)
    await until(`cluster :${port}`, () => cli(port, "CLUSTER", "INFO").includes("cluster_state:ok"), startTimeoutMs);
  const clusterPids = redisProcs.slice(1).map((p) => p.pid);
  const singlePid = redisProcs[0].pid;

  const profile = process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROFILE_DIR] : [];
  const gantry = (name, redisUrl, redisPids, checkout = root) => ({
    name,
    redisPids,
    async start() {
      const [port, metrics] = [await freePort(), await freePort()];
      const running = await start(
        name,
        process.execPath,
        [
          ...profile,
          join(checkout, "bin", "gantry.js"),
          "ratelimit",
          "--host",
          "127.0.0.1",
          "--grpc-port",
          String(port),
          "--metrics-port",
          String(metrics),
          "--config-dir",
          configDir,
          "--redis-url",
          redisUrl,
          "--redis-timeout-ms",
          "1000",
          "--log-level",
          "warn",
        ],
        {},
        () => httpOk(`http://127.0.0.1:${metrics}/readyz`),
      );
      return { ...running, port };
    },
  });
  const envoyproxy = {
    name: `envoyproxy/ratelimit, Cluster (REDIS_TYPE=cluster, REDIS_PIPELINE_WINDOW=${pipelineWindow})`,
    redisPids: clusterPids,
    async start() {
      const [port, http, debug, statsd] = [await freePort(), await freePort(), await freePort(), await freePort()];
      const running = await start(
        "envoyproxy/ratelimit",
        serviceCmd,
        [],
        {
          RUNTIME_ROOT: work,
          RUNTIME_SUBDIRECTORY: "ratelimit",
          RUNTIME_WATCH_ROOT: "false",
          RUNTIME_IGNOREDOTFILES: "true",
          // Stats to a statsd port where nobody listens: as cheap as its stats get.
          USE_STATSD: "true",
          STATSD_HOST: "127.0.0.1",
          STATSD_PORT: String(statsd),
          USE_PROMETHEUS: "false",
          LOG_LEVEL: "warn",
          REDIS_SOCKET_TYPE: "tcp",
          REDIS_TYPE: "cluster",
          REDIS_URL: clusterPorts.map((p) => `127.0.0.1:${p}`).join(","),
          REDIS_PIPELINE_WINDOW: pipelineWindow,
          LOCAL_CACHE_SIZE_IN_BYTES: String(16 * 1024 * 1024),
          HOST: "127.0.0.1",
          GRPC_HOST: "127.0.0.1",
          DEBUG_HOST: "127.0.0.1",
          GRPC_PORT: String(port),
          PORT: String(http),
          DEBUG_PORT: String(debug),
        },
        () => httpOk(`http://127.0.0.1:${http}/healthcheck`),
      );
      return { ...running, port };
    },
  };
  const clusterUrl = `redis+cluster://${clusterPorts.map((p) => `127.0.0.1:${p}`).join(",")}`;
  const servers = [
    gantry("Gantry, single Redis", `redis://127.0.0.1:${singlePort}`, [singlePid]),
    gantry("Gantry, Cluster", clusterUrl, clusterPids),
    ...(baseline ? [gantry(`Gantry ${baselineLabel}, Cluster`, clusterUrl, clusterPids, baseline)] : []),
    envoyproxy,
  ];

  const results = [];
  try {
    for (const scenario of scenarios) {
      const bodies = join(work, "requests.bin");
      writeFileSync(
        bodies,
        grpcFrames(scenario.requests.map((r) => toBinary(RateLimitRequestSchema, create(RateLimitRequestSchema, r)))),
      );
      const runs = new Map(servers.map((s) => [s.name, []]));
      for (let round = 0; round < rounds; round++) {
        for (const server of servers) {
          for (const port of [singlePort, ...clusterPorts]) cli(port, "FLUSHALL");
          const running = await server.start();
          try {
            const options = {
              port: running.port,
              path: "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
              bodies,
              concurrency: load.concurrency,
              connections: load.connections,
              warmup: "0s",
            };
            runLoadgen({ ...options, duration: load.warmup });
            const redisBefore = server.redisPids.reduce((a, pid) => a + cpuSeconds(pid), 0);
            const cpuBefore = cpuSeconds(running.pid);
            const started = performance.now();
            const report = runLoadgen({ ...options, duration: load.duration });
            const wall = (performance.now() - started) / 1000;
            const cpu = cpuSeconds(running.pid) - cpuBefore;
            const redisCpu = server.redisPids.reduce((a, pid) => a + cpuSeconds(pid), 0) - redisBefore;
            if (report.failures > 0) console.log(`  ${server.name}: ${report.failures} failed calls`);
            const calls = Math.max(1, report.calls);
            const row = {
              rps: report.rps,
              p99: report.p99_ms,
              cpuPerCall: (cpu * 1e6) / calls,
              cores: cpu / wall,
              redisPerCall: (redisCpu * 1e6) / calls,
              errors: report.failures,
            };
            runs.get(server.name).push(row);
            console.log(
              `${scenario.name} | ${server.name} | round ${round + 1}: ${row.rps.toFixed(0)} req/s, p99 ${row.p99.toFixed(2)} ms, ${row.cpuPerCall.toFixed(1)} µs/call, ${row.cores.toFixed(2)} cores, Redis ${row.redisPerCall.toFixed(1)} µs/call`,
            );
          } finally {
            await running.stop();
          }
        }
      }
      for (const server of servers) {
        const rows = runs.get(server.name);
        const stat = (f) => ({
          median: median(rows.map((r) => r[f])),
          min: Math.min(...rows.map((r) => r[f])),
          max: Math.max(...rows.map((r) => r[f])),
        });
        results.push({
          scenario: scenario.name,
          server: server.name,
          rps: stat("rps"),
          p99: stat("p99"),
          cpuPerCall: stat("cpuPerCall"),
          cores: stat("cores"),
          redisPerCall: stat("redisPerCall"),
          errors: rows.reduce((a, r) => a + r.errors, 0),
        });
      }
    }
  } finally {
    await Promise.all(redisProcs.map((p) => p.stop()));
    rmSync(work, { recursive: true, force: true });
  }
  writeResults(results);
}

function writeResults(results) {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const nproc = execFileSync("nproc").toString().trim();
  const memory = `${(totalmem() / 2 ** 30).toFixed(1)} GiB`;
  const redisVersion = execFileSync(findTool("redis-server"), ["--version"])
    .toString()
    .match(/v=(\S+)/)?.[1];
  const spread = (s, digits) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
  const lines = [
    "# Rate-limit server on Redis Cluster: Gantry (single Redis, Cluster) vs envoyproxy/ratelimit (Cluster)",
    "",
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${nproc} CPUs (${cpu}), ${memory} memory. Node ${process.version}, redis-server ${redisVersion}.`,
    `Load average (1 min) before the run ${loadBefore.toFixed(1)}, after ${loadavg()[0].toFixed(1)}: the machine is shared with other work,`,
    "so read the ratios and CPU per call, not the absolute numbers.",
    quick ? "\n**--quick run: checks the harness; these numbers are not results.**\n" : "",
    `Load: bench/loadgen, ${load.concurrency} concurrent calls over ${load.connections} connections, ${load.duration} measured after ${load.warmup} of warm-up;`,
    `${rounds} round(s) per row, taken in turn across the servers (a fresh server process each, every Redis flushed).`,
    "Cells are medians, with the spread over the rounds (min–max) in brackets.",
    "",
    "- Single Redis: one redis-server. Cluster: 3 masters, no replicas, `redis-cli --cluster create` (slots spread evenly).",
    "- Gantry: `gantry ratelimit` with its defaults (`--workers` one per core, coalescing, local over-limit cache) and `--redis-timeout-ms 1000`, so",
    "  overload shows as latency, not errors; `redis://` for the single Redis, `redis+cluster://` naming the 3 masters.",
    `- envoyproxy/ratelimit (service_cmd, the commit pinned in bench/ratelimit/run.mjs): \`REDIS_TYPE=cluster\`,`,
    `  \`REDIS_URL\` the 3 masters, \`REDIS_PIPELINE_WINDOW=${pipelineWindow}\` (its settings call the window required in cluster mode and`,
    "  recommend 150us–500us), `REDIS_POOL_SIZE` its default 10, local cache 16 MiB, stats to an idle statsd port.",
    "- Server CPU per call: the CPU time (user + system, /proc) of every process of the server (Gantry's primary and its workers) over the measured calls. Cores used: that CPU",
    "  time over the wall time. Redis CPU per call: the same for the Redis processes the server talks to.",
    "",
    "| scenario | server | req/s | p99 ms | server CPU µs/call | cores used | Redis CPU µs/call | errors | vs Gantry single Redis | vs envoyproxy/ratelimit |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const row of results) {
    const single = results.find((r) => r.scenario === row.scenario && r.server.startsWith("Gantry, single"));
    const peer = results.find((r) => r.scenario === row.scenario && r.server.startsWith("envoyproxy"));
    const ratio = (other) => (other && other !== row ? `${(row.rps.median / other.rps.median).toFixed(2)}×` : "—");
    lines.push(
      `| ${row.scenario} | ${row.server} | ${spread(row.rps, 0)} | ${spread(row.p99, 2)} | ${spread(row.cpuPerCall, 1)} | ${spread(row.cores, 2)} | ${spread(row.redisPerCall, 1)} | ${row.errors} | ${ratio(single)} | ${ratio(peer)} |`,
    );
  }
  lines.push("", "Reproduce: `npm run build && node bench/ratelimit/cluster.mjs` (`--rounds N`).", "");
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  const file = quick ? "ratelimit-cluster.quick.md" : "ratelimit-cluster.md";
  writeFileSync(join(root, "bench", "results", file), lines.join("\n"));
  console.log(`wrote bench/results/${file}`);
}

await main();
