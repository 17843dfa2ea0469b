// Benchmark: what tracing costs the data-plane services. Each server runs twice side by side, tracing
// off and tracing on at 1% sampling (spans exported over OTLP to a real OpenTelemetry Collector,
// test/observability/otelcol), in alternating rounds; the load generator (bench/loadgen) sends calls
// that carry no trace context, so 1% of them start a trace. Goal: throughput with tracing within 5%.
//   npm run build && node bench/tracing/overhead.mjs [--quick]
// Writes bench/results/tracing-overhead.md.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { CheckRequestSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import { RateLimitRequestSchema } from "../../dist/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { findTool, freePort, grpcFrames, runLoadgen } from "../common.mjs";
import { machine, readyLine, startProcess } from "../extauth/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const loadAtStart = loadavg()[0];
const rounds = quick ? 1 : 5;
const load = { connections: 2, concurrency: 64, warmup: quick ? "300ms" : "1500ms", duration: quick ? "1s" : "5s" };

const collectorBin = findTool("gantry-otelcol");
if (!collectorBin) throw new Error("gantry-otelcol is not built: run CI=true node scripts/test-prereqs.mjs");
const dir = mkdtempSync(join(tmpdir(), "gantry-bench-tracing-"));
const otlpPort = await freePort();
writeFileSync(
  join(dir, "collector.yaml"),
  [
    "receivers:",
    `  otlp: { protocols: { http: { endpoint: "127.0.0.1:${otlpPort}" } } }`,
    "exporters:",
    `  file: { path: ${JSON.stringify(join(dir, "spans.jsonl"))} }`,
    "service:",
    "  pipelines: { traces: { receivers: [otlp], exporters: [file] } }",
    "  telemetry: { metrics: { level: none } }",
  ].join("\n"),
);
const collector = spawn(collectorBin, ["--config", `file:${join(dir, "collector.yaml")}`], { stdio: "ignore" });
const endpoint = `http://127.0.0.1:${otlpPort}/v1/traces`;

const basic = `Basic ${Buffer.from("alice:password").toString("base64")}`;
const scenarios = [
  {
    kind: "extauth",
    path: "/envoy.service.auth.v3.Authorization/Check",
    requests: Array.from({ length: 64 }, (_, i) =>
      toBinary(
        CheckRequestSchema,
        create(CheckRequestSchema, {
          attributes: {
            contextExtensions: { config_id: "bench" },
            request: {
              http: { method: "GET", path: `/orders/${i}`, host: "api.example.com", headers: { authorization: basic } },
            },
          },
        }),
      ),
    ),
  },
  {
    kind: "ratelimit",
    path: "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
    requests: Array.from({ length: 1000 }, (_, i) =>
      toBinary(
        RateLimitRequestSchema,
        create(RateLimitRequestSchema, {
          domain: "bench",
          hitsAddend: 1,
          descriptors: [{ entries: [{ key: "user", value: `u${i}` }] }],
        }),
      ),
    ),
  },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
try {
  for (const scenario of scenarios) {
    const bodies = join(dir, `${scenario.kind}.bin`);
    writeFileSync(bodies, grpcFrames(scenario.requests));
    const runs = { off: [], on: [] };
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first, so a trend in the machine's load favours neither.
      const order = round % 2 === 0 ? ["off", "on"] : ["on", "off"];
      for (const mode of order) {
        const args = [join(here, "target.mjs"), scenario.kind, ...(mode === "on" ? [endpoint] : [])];
        const target = await startProcess(`${scenario.kind} ${mode}`, process.execPath, args, readyLine);
        try {
          const report = runLoadgen({
            port: target.port,
            path: scenario.path,
            bodies,
            concurrency: load.concurrency,
            connections: load.connections,
            warmup: load.warmup,
            duration: load.duration,
          });
          if (report.failures > 0) throw new Error(`${scenario.kind} ${mode}: ${report.failures} calls failed`);
          runs[mode].push({ rps: report.rps, p99: report.p99_ms });
        } finally {
          await target.stop();
        }
      }
    }
    const ratios = runs.on.map((r, i) => r.rps / runs.off[i].rps);
    results.push({
      kind: scenario.kind,
      off: median(runs.off.map((r) => r.rps)),
      on: median(runs.on.map((r) => r.rps)),
      p99Off: median(runs.off.map((r) => r.p99)),
      p99On: median(runs.on.map((r) => r.p99)),
      ratio: median(ratios),
      spread: [Math.min(...ratios), Math.max(...ratios)],
    });
  }
} finally {
  collector.kill("SIGTERM");
  await once(collector, "exit");
  rmSync(dir, { recursive: true, force: true });
}

const m = machine();
const lines = [
  "# Tracing overhead: 1% sampling against tracing off",
  "",
  `${new Date().toISOString().slice(0, 10)} · ${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node} · load average at start ${loadAtStart.toFixed(1)}`,
  "",
  `Each server in its own process, started in-process by bench/tracing/target.mjs (one event loop, no workers), tracing off or on (\`sampleRatio 0.01\`, OTLP/HTTP to a real collector); bench/loadgen, ${load.connections} connections, ${load.concurrency} calls in flight, ${load.duration} per run after ${load.warmup} warm-up, ${rounds} alternating rounds; medians, ratio spread min–max over rounds. Calls carry no trace context. Goal: throughput with tracing ≥ 95% of without.`,
  "",
  "| server | calls/s, off | calls/s, 1% | ratio (min–max) | p99 ms, off | p99 ms, 1% | goal |",
  "|---|---:|---:|---:|---:|---:|---|",
  ...results.map(
    (r) =>
      `| ${r.kind} | ${Math.round(r.off)} | ${Math.round(r.on)} | ${r.ratio.toFixed(3)} (${r.spread[0].toFixed(2)}–${r.spread[1].toFixed(2)}) | ${r.p99Off.toFixed(2)} | ${r.p99On.toFixed(2)} | ${r.ratio >= 0.95 ? "met" : "not met"} |`,
  ),
  "",
];
const out = join(here, "..", "results", quick ? "tracing-overhead.quick.md" : "tracing-overhead.md");
writeFileSync(out, lines.join("\n"));
console.log(lines.join("\n"));
