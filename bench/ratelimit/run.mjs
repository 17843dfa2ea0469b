// Benchmark: ShouldRateLimit throughput and latency, side by side in one run, against the same
// redis-server and the same config file:
//   - envoyproxy/ratelimit (its src/service_cmd, file config, local over-limit cache on),
//   - Gantry (`gantry ratelimit`, built dist/),
//   - Gantry's gRPC transport alone (its own HTTP/2 layer + protobuf-es, answering OK, no counting),
//   - the raw node:http2 + protobuf-es ceiling (decode, answer OK, no counting).
// Load comes from two generators in turn, at a fixed concurrency, to loopback only, bounded in time:
// bench/loadgen (lean: pre-encoded requests on raw HTTP/2 frames) and ghz.
//   npm run build && node bench/ratelimit/run.mjs [--quick] [--rounds N]
// Builds missing tools into .cache/bin (pinned). Writes bench/results/ratelimit.md.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  file_envoy_service_ratelimit_v3_rls,
  RateLimitRequestSchema,
} from "../../dist/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { buildLoadgen, findTool, freePort, grpcFrames, localBin, runLoadgen } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const quick = process.argv.includes("--quick");
const roundsArg = process.argv.indexOf("--rounds");
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : quick ? 1 : 3;
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

async function until(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
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

const httpOk = async (url) => (await fetch(url)).ok;

function start(name, command, args, env, ready) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  return until(`${name} to be ready`, async () => {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr}`);
    return ready();
  }).then(
    () => ({
      name,
      pid: child.pid,
      async stop() {
        if (child.exitCode !== null) return;
        child.kill("SIGTERM");
        await once(child, "exit");
      },
    }),
    (err) => {
      child.kill("SIGKILL");
      throw new Error(`${err.message}\n${stderr}`);
    },
  );
}

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

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** The machine is shared; its load before and after the run says how much to trust the numbers. */
const loadBefore = loadavg()[0];

async function main() {
  const redisServer = findTool("redis-server");
  const redisCli = findTool("redis-cli");
  if (!redisServer || !redisCli)
    throw new Error("redis-server and redis-cli are needed (apt-get install redis-server)");
  const ghzPath = goTool("ghz");
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
  const gantryPort = await freePort();
  const gantryMetrics = await freePort();
  const gantry = {
    name: "Gantry",
    port: gantryPort,
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
          String(gantryPort),
          "--metrics-port",
          String(gantryMetrics),
          "--config-dir",
          configDir,
          "--redis-url",
          `redis://127.0.0.1:${redisPort}`,
          "--redis-timeout-ms",
          "1000",
          "--log-level",
          "warn",
        ],
        {},
        () => httpOk(`http://127.0.0.1:${gantryMetrics}/readyz`),
      ),
  };
  const rawPort = await freePort();
  const raw = {
    name: "raw node:http2 ceiling",
    port: rawPort,
    start: () =>
      start("raw ceiling", process.execPath, [join(here, "raw-ceiling.mjs"), String(rawPort)], {}, () =>
        tcpOpen(rawPort),
      ),
  };
  const transportPort = await freePort();
  const transportOnly = {
    name: "Gantry transport only",
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
  const servers = [envoyproxy, gantry, transportOnly, raw];

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
        {
          name: "ghz",
          warm: (port) => ghz(ghzPath, protoset, port, scenario.data, load.warmup),
          measure: (port) => ghz(ghzPath, protoset, port, scenario.data, load.duration),
        },
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
              const cpuBefore = cpuSeconds(running.pid);
              const measured = generator.measure(server.port);
              const cpu = cpuSeconds(running.pid) - cpuBefore;
              measured.cpuPerCall = (cpu * 1e6) / Math.max(1, measured.calls);
              runs.get(`${generator.name}|${server.name}`).push(measured);
            } finally {
              await running.stop();
            }
          }
        }
      }
      for (const [key, rows] of runs) {
        const [generator, server] = key.split("|");
        const mean = (f) => rows.reduce((a, r) => a + r[f], 0) / rows.length;
        const row = {
          generator,
          scenario: scenario.name,
          server,
          rps: mean("rps"),
          p50: mean("p50"),
          p99: mean("p99"),
          cpuPerCall: mean("cpuPerCall"),
          errors: rows.reduce((a, r) => a + r.errors, 0),
        };
        console.log(
          `${row.generator} | ${row.scenario} | ${row.server}: ${row.rps.toFixed(0)} req/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms, ${row.cpuPerCall.toFixed(1)} µs CPU/call, errors ${row.errors}`,
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
    "# Rate-limit server: Gantry vs envoyproxy/ratelimit, its own transport and the raw node:http2 ceiling",
    "",
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${nproc} CPUs (${cpu}), ${memory} memory.`,
    `Load average (1 min) before the run ${loadBefore.toFixed(1)}, after ${loadavg()[0].toFixed(1)}.`,
    "",
    `${load.concurrency} concurrent calls over ${load.connections} connections, ${load.duration} measured after ${load.warmup} of warm-up,`,
    `${rounds} round(s) per row, taken in turn across the servers (a fresh server process each, Redis flushed), means shown.`,
    "Servers, Redis and the load generator share the machine (and other work on it),",
    "so read the ratios, not the absolute numbers. Same redis-server and the same config file for both servers;",
    "envoyproxy/ratelimit runs with its local over-limit cache on (16 MiB), Gantry with its defaults",
    "(local cache on, coalescing on) and a 1 s Redis timeout so that overload shows as latency, not errors.",
    `${quick ? "\n**--quick run: checks the harness; these numbers are not results.**\n" : ""}`,
    "The CPU column is the server process's own CPU time (user + system, from /proc) over the measured calls:",
    "what one call costs the server, whatever the generator and Redis took. It moves less with the machine's load than req/s does.",
    "",
  ];
  const sections = [
    [
      "loadgen",
      "Load from bench/loadgen: pre-encoded requests on raw HTTP/2 frames (Go, golang.org/x/net/http2), the lean generator. " +
        "Every answer's gRPC status is checked; the errors column counts any that is not OK.",
    ],
    [
      "ghz",
      "Load from ghz: it encodes every request through protobuf reflection and records every call, and on 2 cores it takes " +
        "more CPU than the servers; its rows show how the servers compare when the generator is the bottleneck.",
    ],
  ];
  for (const [generator, text] of sections) {
    lines.push(
      `## ${generator}`,
      "",
      text,
      "",
      "| scenario | server | req/s | p50 ms | p99 ms | server CPU µs/call | errors | vs envoyproxy/ratelimit | vs raw node:http2 ceiling |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    );
    const rows = results.filter((r) => r.generator === generator);
    for (const row of rows) {
      const peer = rows.find((r) => r.scenario === row.scenario && r.server === "envoyproxy/ratelimit");
      const ceiling = rows.find((r) => r.scenario === row.scenario && r.server === "raw node:http2 ceiling");
      const ratio = (other) => (other && other !== row ? `${(row.rps / other.rps).toFixed(2)}×` : "—");
      lines.push(
        `| ${row.scenario} | ${row.server} | ${row.rps.toFixed(0)} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.cpuPerCall.toFixed(1)} | ${row.errors} | ${ratio(peer)} | ${ratio(ceiling)} |`,
      );
    }
    lines.push("");
  }
  lines.push("Reproduce: `npm run build && node bench/ratelimit/run.mjs`.", "");
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  const file = quick ? "ratelimit.quick.md" : "ratelimit.md";
  writeFileSync(join(root, "bench", "results", file), lines.join("\n"));
  console.log(`wrote bench/results/${file}`);
}

await main();
