// Soak: `gantry ratelimit` (on Redis) and `gantry extauth` under steady mixed load for an hour, with config
// reloads every minute and Redis killed and restarted every 15 minutes. Each minute samples both servers' RSS
// and each load's p99 and failures; the result (table and charts) goes to results/soak.md.
//
//   node bench/soak/run.mjs [--minutes 60] [--quick]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { CheckRequestSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import { RateLimitRequestSchema } from "../../dist/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { findTool, freePort, grpcFrames, runLoadgenAsync, untilHealthy } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const at = args.indexOf("--minutes");
const minutes = at >= 0 ? Number(args[at + 1]) : quick ? 2 : 60;
/** Each "minute" is this long: load runs for most of it, then the sample is taken. */
const minuteMs = quick ? 15_000 : 60_000;
const loadSeconds = quick ? 10 : 50;
const redisRestartEvery = quick ? 1 : 15;

const redisServer = findTool("redis-server");
if (!redisServer) throw new Error("soak: needs redis-server (apt-get install redis-server)");
const work = mkdtempSync(join(tmpdir(), "gantry-soak-"));

function start(name, command, argv) {
  const child = spawn(command, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  child.on("exit", (code, signal) => {
    if (!stopping && name !== "redis") console.error(`soak: ${name} exited (${code ?? signal}): ${stderr}`);
  });
  return child;
}

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

/** Writes a file the way editors and ConfigMaps do: aside, then renamed over. */
function replace(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

let stopping = false;
const redisPort = await freePort();
const startRedis = () =>
  start("redis", redisServer, ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
let redis = startRedis();

const rlConfigDir = join(work, "ratelimit");
const rlConfig = (limit) =>
  `domain: soak\ndescriptors:\n  - key: client\n    rate_limit: { unit: second, requests_per_unit: ${limit} }\n`;
mkdirSync(rlConfigDir);
replace(join(rlConfigDir, "soak.yaml"), rlConfig(1000));
const authFile = join(work, "auth.yaml");
// {SHA} of "password".
const authConfig = (extraUser) =>
  `soak:\n  configs:\n    - name: users\n      basicAuth: { users: { alice: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", ${extraUser}: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" } }\n`;
replace(authFile, authConfig("user0"));

const [rlPort, rlMetrics, eaPort, eaMetrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
const gantry = join(root, "bin", "gantry.js");
const common = ["--host", "127.0.0.1", "--log-level", "error"];
const ratelimit = start("gantry ratelimit", process.execPath, [
  gantry,
  "ratelimit",
  ...common,
  "--grpc-port",
  String(rlPort),
  "--metrics-port",
  String(rlMetrics),
  "--config-dir",
  rlConfigDir,
  "--redis-url",
  `redis://127.0.0.1:${redisPort}`,
]);
const extauth = start("gantry extauth", process.execPath, [
  gantry,
  "extauth",
  ...common,
  "--grpc-port",
  String(eaPort),
  "--metrics-port",
  String(eaMetrics),
  "--config",
  authFile,
  "--default-config",
  "soak",
]);
await untilHealthy(rlMetrics);
await untilHealthy(eaMetrics);

// 1,000 clients' rate-limit requests, and Check requests half allowed, half denied.
const rlBodies = join(work, "rl.bin");
writeFileSync(
  rlBodies,
  grpcFrames(
    Array.from({ length: 1000 }, (_, i) =>
      toBinary(
        RateLimitRequestSchema,
        create(RateLimitRequestSchema, {
          domain: "soak",
          descriptors: [{ entries: [{ key: "client", value: `c${i}` }] }],
        }),
      ),
    ),
  ),
);
const basic = (password) => `Basic ${Buffer.from(`alice:${password}`).toString("base64")}`;
const eaBodies = join(work, "ea.bin");
writeFileSync(
  eaBodies,
  grpcFrames(
    ["password", "wrong"].map((password) =>
      toBinary(
        CheckRequestSchema,
        create(CheckRequestSchema, {
          attributes: {
            request: { http: { method: "GET", path: "/", host: "soak", headers: { authorization: basic(password) } } },
          },
        }),
      ),
    ),
  ),
);

async function load(port, path, bodies) {
  const options = { port, path, bodies, concurrency: 8, connections: 2, warmup: "0s", duration: `${loadSeconds}s` };
  const report = await runLoadgenAsync(options, (loadSeconds + 60) * 1000);
  return { calls: report.calls, p99: Number(report.p99_ms.toFixed(1)), failures: report.failures };
}

console.log(`soak: ${minutes} minutes; results in bench/results/${quick ? "soak.quick.md" : "soak.md"}`);
const loadAtStart = loadavg()[0];
const samples = [];
for (let minute = 1; minute <= minutes; minute++) {
  const began = Date.now();
  let outage = false;
  // Reload both configs (a changed limit, another user) while the load runs.
  replace(join(rlConfigDir, "soak.yaml"), rlConfig(1000 + minute));
  replace(authFile, authConfig(`user${minute}`));
  const loads = Promise.all([
    load(rlPort, "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit", rlBodies),
    load(eaPort, "/envoy.service.auth.v3.Authorization/Check", eaBodies),
  ]);
  if (minute % redisRestartEvery === 0) {
    // Redis dies mid-load and comes back 5 s later, empty.
    outage = true;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    redis.kill("SIGKILL");
    await once(redis, "exit");
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    redis = startRedis();
  }
  const [rl, ea] = await loads;
  const sample = {
    minute,
    outage,
    rlRss: rssMiB(ratelimit.pid),
    eaRss: rssMiB(extauth.pid),
    rl,
    ea,
  };
  samples.push(sample);
  console.log(
    `minute ${minute}: ratelimit ${sample.rlRss.toFixed(0)} MiB p99 ${rl.p99} ms failures ${rl.failures}; extauth ${sample.eaRss.toFixed(0)} MiB p99 ${ea.p99} ms failures ${ea.failures}${outage ? " (Redis restarted)" : ""}`,
  );
  const rest = minuteMs - (Date.now() - began);
  if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
}
stopping = true;
for (const child of [ratelimit, extauth, redis]) child.kill("SIGTERM");
rmSync(work, { recursive: true, force: true });

const outsideOutages = samples.filter((s) => !s.outage);
const errorsOutside = outsideOutages.reduce((n, s) => n + s.rl.failures + s.ea.failures, 0);
const first = samples[Math.min(2, samples.length - 1)];
const last = samples[samples.length - 1];
const chart = (title, yLabel, series) => [
  "```mermaid",
  "xychart-beta",
  `  title "${title}"`,
  `  x-axis "minute" [${samples.map((s) => s.minute).join(", ")}]`,
  `  y-axis "${yLabel}"`,
  ...series.map((values) => `  line [${values.map((v) => v.toFixed(1)).join(", ")}]`),
  "```",
];
const lines = [
  "# Soak: an hour of mixed load with reloads and Redis restarts",
  "",
  `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown CPU"}), ${(totalmem() / 2 ** 20).toFixed(0)} MiB memory, Node ${process.version}.`,
  `Load average (1 min) at start and end: ${loadAtStart.toFixed(1)} and ${loadavg()[0].toFixed(1)}; above ${cpus().length}, other work shared the CPUs.`,
  "",
  `Setup: \`gantry ratelimit\` on one redis-server (1,000 keys, fixed window) and \`gantry extauth\` (basic auth, half the`,
  `calls denied), each loaded by bench/loadgen with 8 calls in flight on 2 connections for ${loadSeconds} s of every minute.`,
  "Every minute both config files are replaced (a changed limit, another user); every",
  `${redisRestartEvery} minutes Redis is killed mid-load and started again, empty, 5 s later. RSS is each server's VmRSS at the minute's end.`,
  "",
  `Result: RSS minute ${first.minute} → ${last.minute}: ratelimit ${first.rlRss.toFixed(0)} → ${last.rlRss.toFixed(0)} MiB, extauth ${first.eaRss.toFixed(0)} → ${last.eaRss.toFixed(0)} MiB;`,
  `failed calls outside the minutes with a Redis restart: ${errorsOutside}.`,
  "",
  ...chart("RSS (MiB): ratelimit, extauth", "MiB", [samples.map((s) => s.rlRss), samples.map((s) => s.eaRss)]),
  "",
  ...chart("p99 (ms): ratelimit, extauth", "ms", [
    samples.map((s) => Number(s.rl.p99)),
    samples.map((s) => Number(s.ea.p99)),
  ]),
  "",
  "| minute | Redis restarted | ratelimit RSS | calls | p99 | failed | extauth RSS | calls | p99 | failed |",
  "|---|---|---|---|---|---|---|---|---|---|",
  ...samples.map(
    (s) =>
      `| ${s.minute} | ${s.outage ? "yes" : ""} | ${s.rlRss.toFixed(0)} MiB | ${s.rl.calls} | ${s.rl.p99} ms | ${s.rl.failures} | ${s.eaRss.toFixed(0)} MiB | ${s.ea.calls} | ${s.ea.p99} ms | ${s.ea.failures} |`,
  ),
  "",
];
const file = join(here, "..", "results", quick ? "soak.quick.md" : "soak.md");
writeFileSync(file, lines.join("\n"));
console.log(`written: ${file}`);
process.exit(0);
