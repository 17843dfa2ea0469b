// Benchmark: ShouldRateLimit throughput and latency, side by side in one run, against the same
// redis-server (one node, its production defaults) and the same config file, every server on all cores:
//   - envoyproxy/ratelimit (its src/service_cmd, file config, local over-limit cache on; Go uses every core),
//   - Gantry (`gantry ratelimit --workers <cores>`, built dist/), and Gantry with one worker,
//   - with --baselines, two baselines on one core: Gantry's gRPC transport alone (its own HTTP/2 layer +
//     protobuf-es answering OK, no counting) and node:http2 + protobuf-es answering OK. Gantry runs on
//     neither, so they are reference points, not ceilings.
// Load from bench/loadgen (and, with --ghz, ghz too), at a fixed concurrency, to loopback only, bounded in time.
// Reported per row: throughput in total and per server core, p50/p99, server CPU per call, the cores each
// process used (server, Redis), medians over rounds with their spread.
//   npm run build && node bench/ratelimit/run.mjs [--quick] [--rounds N] [--baselines] [--ghz] [--workers N]
// Builds missing tools into .cache/bin (pinned). Writes bench/results/ratelimit.md.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  file_envoy_service_ratelimit_v3_rls,
  RateLimitRequestSchema,
} from "../../dist/gen/envoy/service/ratelimit/v3/rls_pb.js";
import {
  buildLoadgen,
  findTool,
  freePort,
  grpcFrames,
  localBin,
  median,
  runLoadgen,
  spread,
  startReady,
  treeCpuSeconds,
} from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const quick = process.argv.includes("--quick");
const roundsArg = process.argv.indexOf("--rounds");
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : quick ? 1 : 3;
const workersArg = process.argv.indexOf("--workers");
const workers = workersArg > 0 ? Number(process.argv[workersArg + 1]) : availableParallelism();
const withBaselines = process.argv.includes("--baselines");
const withGhz = process.argv.includes("--ghz");
const load = { concurrency: 64, connections: 4, warmup: quick ? "1s" : "2s", duration: quick ? "2s" : "6s" };

/** Pinned: the versions this benchmark was written against. */
const goTools = {
  ghz: "github.com/bojand/ghz/cmd/ghz@v0.93.0",
  service_cmd: "github.com/envoyproxy/ratelimit/src/service_cmd@v1.4.1-0.20260122083618-3fb702589d36",
};

function goTool(name) {
  const found = findTool(name);
  if (found) return found;
  console.log(`building ${name} (go install ${goTools[name]})`);
  mkdirSync(localBin, { recursive: true });
  execFileSync("go", ["install", goTools[name]], { stdio: "inherit", env: { ...process.env, GOBIN: localBin } });
  return join(localBin, name);
}

const tcpOpen = (port) =>
  new Promise((resolve) => {
    const socket = createConnection(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** A loaded machine starts a primary and N workers slowly. */
const startTimeoutMs = 90_000;

const httpOk = async (url) => (await fetch(url)).ok;

const start = (name, command, args, env, ready) => startReady(name, command, args, env, ready, startTimeoutMs);

const config = `domain: bench
descriptors:
  - key: remote_address
    rate_limit:
      unit: minute
      requests_per_unit: 1000000000
  - key: hot
    rate_limit:
      unit: minute
      requests_per_unit: 100
`;

const descriptor = (key, value) => ({ domain: "bench", descriptors: [{ entries: [{ key, value }] }] });
/** 0..999 in a shuffled order (a fixed one, so every run sends the same sequence). */
const addresses = Array.from({ length: 1000 }, (_, i) => (i * 617) % 1000);

// Each scenario as a ghz data template and as the request list bench/loadgen sends in turn.
const scenarios = [
  {
    name: "1,000 client addresses, within limit (every call counts in Redis)",
    data: descriptor("remote_address", "10.0.{{randomInt 0 1000}}"),
    requests: addresses.map((i) => descriptor("remote_address", `10.0.${i}`)),
  },
  {
    name: "one shared key, within limit (concurrent hits on one counter)",
    data: descriptor("remote_address", "10.9.9.9"),
    requests: [descriptor("remote_address", "10.9.9.9")],
  },
  {
    name: "one key over its limit (100/min; the local over-limit cache answers)",
    data: descriptor("hot", "x"),
    requests: [descriptor("hot", "x")],
  },
];

/** The scenario's requests as gRPC length-prefixed messages, back to back, for bench/loadgen. */
function writeBodies(path, requests) {
  writeFileSync(
    path,
    grpcFrames(requests.map((request) => toBinary(RateLimitRequestSchema, create(RateLimitRequestSchema, request)))),
  );
}

function loadgen(bodies, port, warmup, duration) {
  const report = runLoadgen({
    port,
    path: "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
    bodies,
    concurrency: load.concurrency,
    connections: load.connections,
    warmup,
    duration,
  });
  if (Object.keys(report.notOk).length > 0) console.log(`  non-OK statuses: ${JSON.stringify(report.notOk)}`);
  return {
    calls: report.calls,
    rps: report.rps,
    p50: report.p50_ms,
    p99: report.p99_ms,
    errors: report.failures,
    codes: report.codes,
  };
}

/** ghz reads the service from a protoset made of the descriptors compiled into dist/gen (no .proto files needed). */
function writeProtoset(path) {
  const files = new Map();
  const visit = (file) => {
    if (files.has(file.name)) return;
    for (const dependency of file.dependencies) visit(dependency);
    files.set(file.name, file.proto);
  };
  visit(file_envoy_service_ratelimit_v3_rls);
  writeFileSync(
    path,
    toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [...files.values()] })),
  );
}

function ghz(ghzPath, protoset, port, data, duration) {
  const out = execFileSync(
    ghzPath,
    [
      "--insecure",
      "--protoset",
      protoset,
      "--call",
      "envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
      "--data",
      JSON.stringify(data),
      "--concurrency",
      String(load.concurrency),
      "--connections",
      String(load.connections),
      "--duration",
      duration,
      "--output",
      "-",
      "--format",
      "json",
      `127.0.0.1:${port}`,
    ],
    // ghz lists every call in its JSON report; fast rows run to hundreds of thousands of calls.
    { maxBuffer: 1024 * 1024 * 1024 },
  );
  const report = JSON.parse(out.toString());
  const percentile = (p) => (report.latencyDistribution ?? []).find((d) => d.percentage === p)?.latency ?? 0;
  // ghz cuts the calls in flight when the duration ends; those are not the server's errors.
  const errors = Object.entries(report.errorDistribution ?? {}).filter(
    ([message]) => !/transport is closing|context canceled|Canceled/.test(message),
  );
  if (errors.length > 0) console.log(`  errors: ${JSON.stringify(Object.fromEntries(errors))}`);
  return {
    calls: report.count ?? 0,
    rps: (report.statusCodeDistribution?.OK ?? 0) / (report.total / 1e9),
    p50: percentile(50) / 1e6,
    p99: percentile(99) / 1e6,
    errors: errors.reduce((a, [, n]) => a + n, 0),
  };
}

/** The machine is shared; its load before and after the run says how much to trust the numbers. */
const loadBefore = loadavg()[0];

async function main() {
  const redisServer = findTool("redis-server");
  const redisCli = findTool("redis-cli");
  if (!redisServer || !redisCli)
    throw new Error("redis-server and redis-cli are needed (apt-get install redis-server)");
  const ghzPath = withGhz ? goTool("ghz") : undefined;
  buildLoadgen();
  const serviceCmd = goTool("service_cmd");
  const work = mkdtempSync(join(tmpdir(), "gantry-rl-bench-"));
  const configDir = join(work, "ratelimit", "config");
  mkdirSync(configDir, { recursive: true });
  writeFileSync(join(configDir, "bench.yaml"), config);
  const protoset = join(work, "rls.protoset");
  writeProtoset(protoset);

  const redisPort = await freePort();
  const redis = await start(
    "redis-server",
    redisServer,
    ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work],
    {},
    () =>
      execFileSync(redisCli, ["-p", String(redisPort), "PING"], { stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim() === "PONG",
  );

  const ports = {
    envoy: await freePort(),
    envoyHttp: await freePort(),
    envoyDebug: await freePort(),
    statsd: await freePort(),
  };
  const envoyproxy = {
    name: "envoyproxy/ratelimit",
    port: ports.envoy,
    start: () =>
      start(
        "envoyproxy/ratelimit",
        serviceCmd,
        [],
        {
          RUNTIME_ROOT: work,
          RUNTIME_SUBDIRECTORY: "ratelimit",
          RUNTIME_WATCH_ROOT: "false",
          RUNTIME_IGNOREDOTFILES: "true",
          // Stats go to a statsd port where nobody listens: counted, then dropped, as cheap as stats get
          // (its logging sink, the default without statsd, would write every timer to stderr).
          USE_STATSD: "true",
          STATSD_HOST: "127.0.0.1",
          STATSD_PORT: String(ports.statsd),
          USE_PROMETHEUS: "false",
          LOG_LEVEL: "warn",
          REDIS_SOCKET_TYPE: "tcp",
          REDIS_URL: `127.0.0.1:${redisPort}`,
          LOCAL_CACHE_SIZE_IN_BYTES: String(16 * 1024 * 1024),
          HOST: "127.0.0.1",
          GRPC_HOST: "127.0.0.1",
          DEBUG_HOST: "127.0.0.1",
          GRPC_PORT: String(ports.envoy),
          PORT: String(ports.envoyHttp),
          DEBUG_PORT: String(ports.envoyDebug),
        },
        () => httpOk(`http://127.0.0.1:${ports.envoyHttp}/healthcheck`),
      ),
  };
  const gantryServer = async (count) => {
    const port = await freePort();
    const metrics = await freePort();
    return {
      name: count === 1 ? "Gantry, 1 worker" : `Gantry, ${count} workers`,
      port,
      start: () =>
        start(
          "Gantry",
          process.execPath,
          [
            join(root, "bin", "gantry.js"),
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
            `redis://127.0.0.1:${redisPort}`,
            "--redis-timeout-ms",
            "1000",
            "--workers",
            String(count),
            "--log-level",
            "warn",
          ],
          {},
          () => httpOk(`http://127.0.0.1:${metrics}/readyz`),
        ),
    };
  };
  const gantry = await gantryServer(workers);
  const rawPort = await freePort();
  const raw = {
    name: "baseline: node:http2, answers OK (1 core)",
    port: rawPort,
    start: () =>
      start("node:http2 baseline", process.execPath, [join(here, "node-http2-baseline.mjs"), String(rawPort)], {}, () =>
        tcpOpen(rawPort),
      ),
  };
  const transportPort = await freePort();
  const transportOnly = {
    name: "baseline: Gantry transport, answers OK (1 core)",
    port: transportPort,
    start: () =>
      start(
        "Gantry transport only",
        process.execPath,
        [join(here, "transport-only.mjs"), String(transportPort)],
        {},
        () => tcpOpen(transportPort),
      ),
  };
  const servers = [
    envoyproxy,
    gantry,
    ...(workers > 1 ? [await gantryServer(1)] : []),
    ...(withBaselines ? [transportOnly, raw] : []),
  ];

  const results = [];
  try {
    for (const scenario of scenarios) {
      const bodies = join(work, "requests.bin");
      writeBodies(bodies, scenario.requests);
      // CPU time is read around the measured part only: loadgen warms up and measures in one run, so
      // its warm-up is a separate short run first.
      const generators = [
        {
          name: "loadgen",
          warm: (port) => loadgen(bodies, port, "0s", load.warmup),
          measure: (port) => loadgen(bodies, port, "0s", load.duration),
        },
        ...(withGhz
          ? [
              {
                name: "ghz",
                warm: (port) => ghz(ghzPath, protoset, port, scenario.data, load.warmup),
                measure: (port) => ghz(ghzPath, protoset, port, scenario.data, load.duration),
              },
            ]
          : []),
      ];
      // Rounds go round-robin over the servers, so a busy spell of the shared machine hits them alike.
      const runs = new Map(generators.flatMap((g) => servers.map((server) => [`${g.name}|${server.name}`, []])));
      for (let round = 0; round < rounds; round++) {
        for (const server of servers) {
          for (const generator of generators) {
            execFileSync(redisCli, ["-p", String(redisPort), "FLUSHALL"]);
            const running = await server.start();
            try {
              generator.warm(server.port);
              const cpuBefore = treeCpuSeconds(running.pid);
              const redisBefore = treeCpuSeconds(redis.pid);
              const startedAt = performance.now();
              const measured = generator.measure(server.port);
              const wall = (performance.now() - startedAt) / 1000;
              const cpu = treeCpuSeconds(running.pid) - cpuBefore;
              measured.cpuPerCall = (cpu * 1e6) / Math.max(1, measured.calls);
              // The generator's wall time includes its start; the cores are a slight underestimate.
              measured.serverCores = cpu / wall;
              measured.redisCores = (treeCpuSeconds(redis.pid) - redisBefore) / wall;
              measured.rpsPerCore = measured.rps / Math.max(0.01, measured.serverCores);
              runs.get(`${generator.name}|${server.name}`).push(measured);
            } finally {
              await running.stop();
            }
          }
        }
      }
      for (const [key, rows] of runs) {
        const [generator, server] = key.split("|");
        const row = {
          generator,
          scenario: scenario.name,
          server,
          runs: rows,
          rps: median(rows.map((r) => r.rps)),
          errors: rows.reduce((a, r) => a + r.errors, 0),
        };
        const pick = (f, digits) =>
          spread(
            rows.map((r) => r[f]),
            digits,
          );
        console.log(
          `${row.generator} | ${row.scenario} | ${row.server}: ${pick("rps", 0)} req/s, ${pick("rpsPerCore", 0)} per core, p99 ${pick("p99", 2)} ms, ${pick("cpuPerCall", 1)} µs CPU/call, ${pick("serverCores", 2)} cores, errors ${row.errors}`,
        );
        results.push(row);
      }
    }
  } finally {
    await redis.stop();
    rmSync(work, { recursive: true, force: true });
  }
  writeResults(results);
}

function writeResults(results) {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const nproc = execFileSync("nproc").toString().trim();
  const memory = `${(totalmem() / 2 ** 30).toFixed(1)} GiB`;
  const lines = [
    "# Rate-limit server: Gantry with workers vs envoyproxy/ratelimit, all cores each",
    "",
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${nproc} CPUs (${cpu}), ${memory} memory, Node ${process.version}.`,
    `Load average (1 min) before the run ${loadBefore.toFixed(1)}, after ${loadavg()[0].toFixed(1)}: other work shared the machine;`,
    "read the ratios within this run, not the absolute numbers.",
    "",
    `${load.concurrency} concurrent calls over ${load.connections} connections, ${load.duration} measured after ${load.warmup} of warm-up,`,
    `${rounds} round(s) per row, taken in turn across the servers (a fresh server process each, Redis flushed).`,
    "Each figure is the median over the rounds, with the lowest and highest round in brackets.",
    "",
    "Settings, all production defaults unless said: one redis-server (no persistence), the same config file for every server.",
    `envoyproxy/ratelimit ${goTools.service_cmd.split("@")[1]}: local over-limit cache on (16 MiB), REDIS_TYPE single,`,
    "pipelining at its defaults (REDIS_PIPELINE_WINDOW only takes effect in cluster mode; REDIS_PIPELINE_LIMIT is deprecated),",
    "Go's GOMAXPROCS = all cores. Gantry: `--workers` as named (the socket shared by node:cluster), local cache and coalescing",
    "on, a 1 s Redis timeout so that overload shows as latency, not errors.",
    `${quick ? "\n**--quick run: checks the harness; these numbers are not results.**\n" : ""}`,
    "Columns: `req/s` in total; `per server core` = req/s ÷ the cores the server used; `server CPU µs/call` = the server's",
    "CPU time (user + system, every process of it: Gantry's primary and workers) over the measured calls; `server cores` and",
    "`redis cores` = CPU seconds ÷ wall seconds of the measured part. The load generator and Redis share the same cores.",
    "Ratios to envoyproxy/ratelimit are medians of the ratios within each round.",
    "",
  ];
  for (const generator of [...new Set(results.map((r) => r.generator))]) {
    lines.push(
      `## ${generator}`,
      "",
      "| scenario | server | req/s | per server core | p50 ms | p99 ms | server CPU µs/call | server cores | redis cores | errors | vs envoyproxy/ratelimit: total | per core |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    const rows = results.filter((r) => r.generator === generator);
    for (const row of rows) {
      const peer = rows.find((r) => r.scenario === row.scenario && r.server === "envoyproxy/ratelimit");
      const ratio = (field) =>
        peer && peer !== row ? `${median(row.runs.map((r, i) => r[field] / peer.runs[i][field])).toFixed(2)}×` : "—";
      const pick = (f, digits) =>
        spread(
          row.runs.map((r) => r[f]),
          digits,
        );
      lines.push(
        `| ${row.scenario} | ${row.server} | ${pick("rps", 0)} | ${pick("rpsPerCore", 0)} | ${pick("p50", 2)} | ${pick("p99", 2)} | ${pick("cpuPerCall", 1)} | ${pick("serverCores", 2)} | ${pick("redisCores", 2)} | ${row.errors} | ${ratio("rps")} | ${ratio("rpsPerCore")} |`,
      );
    }
    lines.push("");
  }
  lines.push(
    "Reproduce: `npm run build && node bench/ratelimit/run.mjs` (`--baselines` adds the two one-core baselines, `--ghz` a second",
    "load generator, `--workers N` another worker count). Redis Cluster rows are not part of this run.",
    "",
  );
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  const file = quick ? "ratelimit.quick.md" : "ratelimit.md";
  writeFileSync(join(root, "bench", "results", file), lines.join("\n"));
  console.log(`wrote bench/results/${file}`);
}

await main();
