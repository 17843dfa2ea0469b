// One route change → applied in every proxyless Go gRPC client: 100 clients (each its own xDS client, node id
// and ADS stream), each with a channel to 20 targets, served by `gantry server` as its users run it (its own
// process, default debounce). Each round moves one target's route to the other backend through the API and
// times, per client, until that client's calls reach the new backend. Writes results/xds-propagation.md.
//
//   node bench/xds-propagation/run.mjs [--quick] [--clients N] [--targets N] [--rounds N]
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePort, localBin, untilHealthy } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const quick = args.includes("--quick");
const clients = flag("--clients", quick ? 10 : 100);
const targets = flag("--targets", quick ? 4 : 20);
const rounds = flag("--rounds", quick ? 4 : 40);
const pollMs = flag("--poll-ms", 5);
const token = "bench-xds-propagation-token-0123456789";
const hardStop = setTimeout(() => {
  console.error("xds-propagation: over 10 minutes, stopping");
  process.exit(1);
}, 600_000);

/** A child speaking one JSON object per line on stdout. */
function jsonChild(command, argv, options) {
  const child = spawn(command, argv, { stdio: ["pipe", "pipe", "inherit"], ...options });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on("line", (line) => waiting.shift()?.(JSON.parse(line)));
  return {
    child,
    next: (timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${command}: no answer in ${timeoutMs} ms`)), timeoutMs);
        waiting.push((value) => {
          clearTimeout(timer);
          resolve(value);
        });
      }),
    send: (value) => child.stdin.write(`${JSON.stringify(value)}\n`),
  };
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const doc = (kind, name, spec) => ({ apiVersion: "gantry/v1", kind, metadata: { name, namespace: "bench" }, spec });
const table = (t, to) =>
  doc("RouteTable", `t${t}`, {
    hosts: [`t${t}.bench`],
    gateways: [{ name: "bench" }],
    http: [{ name: "all", forwardTo: { destinations: [{ destination: { name: to } }] } }],
  });

async function apply(apiPort, documents) {
  const response = await fetch(`http://127.0.0.1:${apiPort}/gantry.api.v1.ManagementService/Apply`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ documents }),
  });
  if (!response.ok) throw new Error(`apply: ${response.status} ${await response.text()}`);
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const median = (values) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

// The Go clients, built from their source (Go caches the build).
const binary = join(localBin, "gantry-bench-xds-propagation");
execFileSync("go", ["build", "-o", binary, "."], { cwd: here, stdio: "inherit" });

const [xdsPort, apiPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
const server = spawn(
  process.execPath,
  [
    // BENCH_PROFILE_DIR=/tmp/prof: the server writes a V8 CPU profile there when it stops.
    ...(process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
    join(root, "bin/gantry.js"),
    "server",
    "--host",
    "127.0.0.1",
    "--xds-port",
    String(xdsPort),
    "--api-port",
    String(apiPort),
    "--metrics-port",
    String(metricsPort),
    "--log-level",
    "warn",
  ],
  { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, GANTRY_API_TOKEN: token } },
);
// A failed run (a client that never connects) must not leave the server running.
process.once("exit", () => server.kill("SIGTERM"));
await untilHealthy(metricsPort);

const go = jsonChild(binary, [
  "-xds",
  `127.0.0.1:${xdsPort}`,
  "-clients",
  String(clients),
  "-targets",
  String(targets),
  "-poll",
  `${pollMs}ms`,
]);
const ports = await go.next();
const backends = (name, port) =>
  doc("Destination", name, {
    ports: [{ number: 50051, protocol: "GRPC" }],
    endpoints: [{ address: "127.0.0.1", port }],
  });
const where = Array.from({ length: targets }, () => "a");
await apply(apiPort, [
  doc("Gateway", "bench", { kind: "GRPC_PROXYLESS", proxies: { labels: { app: "bench" } } }),
  backends("a", ports.a),
  backends("b", ports.b),
  ...where.map((to, t) => table(t, to)),
]);
console.log(`xds-propagation: ${clients} clients × ${targets} targets connecting…`);
go.send({ op: "start" });
const ready = await go.next(180_000);
console.log(`xds-propagation: every channel answered after ${ready.ms} ms; ${rounds} rounds…`);

const loadAtStart = loadavg()[0];
const cpuBefore = cpuSeconds(server.pid);
const perRound = [];
const applyMs = [];
const all = [];
let missed = 0;
for (let r = 0; r < rounds; r++) {
  const t = r % targets;
  where[t] = where[t] === "a" ? "b" : "a";
  const answer = go.next(30_000);
  go.send({ op: "measure", target: `t${t}.bench`, expect: where[t] });
  const applyStart = performance.now();
  await apply(apiPort, [table(t, where[t])]);
  applyMs.push(performance.now() - applyStart);
  const { ms } = await answer;
  missed += ms.filter((v) => v < 0).length;
  const got = ms.filter((v) => v >= 0).sort((a, b) => a - b);
  all.push(...got);
  perRound.push({ p50: percentile(got, 50), p99: percentile(got, 99), max: got[got.length - 1] });
}
const cpuPerChange = (cpuSeconds(server.pid) - cpuBefore) / rounds;
go.child.stdin.end();
go.child.kill();
server.kill("SIGTERM");
clearTimeout(hardStop);
console.log(`apply call: median ${median(applyMs).toFixed(1)} ms`);

all.sort((a, b) => a - b);
const p99s = perRound.map((r) => r.p99).sort((a, b) => a - b);
const fmt = (v) => `${v.toFixed(1)} ms`;
const lines = [
  "# xDS: one route change → applied in every proxyless gRPC client",
  "",
  `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown CPU"}), ${(totalmem() / 2 ** 20).toFixed(0)} MiB memory, Node ${process.version}, Go gRPC 1.85.0.`,
  `Load average (1 min) at start and end: ${loadAtStart.toFixed(1)} and ${loadavg()[0].toFixed(1)}; above ${cpus().length}, other work shared the CPUs and the times are inflated.`,
  "",
  `Setup: \`gantry server\` in its own process (in-memory store, default debounce), ${clients} Go gRPC 1.85.0 xDS clients in one`,
  `process, each with its own xDS client (node id, ADS stream), each with a channel to each of ${targets} targets \`xds:///tN.bench\``,
  `(${clients * targets} channels); the backends in the same Go process. Each of ${rounds} rounds moves one target's route to the other`,
  `backend with one \`Apply\` through the management API, and every client calls that target every ${pollMs} ms until the new`,
  `backend answers: the time from just before the \`Apply\` to that answer (so within ${pollMs} ms above the true time).`,
  "",
  "| clients × targets | change → applied, p50 (all clients, all rounds) | p99 | per-round p99: median | min–max | slowest client | missed (10 s) | server CPU per change |",
  "|---|---|---|---|---|---|---|---|",
  `| ${clients} × ${targets} | ${fmt(percentile(all, 50))} | ${fmt(percentile(all, 99))} | ${fmt(median(p99s))} | ${fmt(p99s[0])}–${fmt(p99s[p99s.length - 1])} | ${fmt(all[all.length - 1])} | ${missed} | ${(cpuPerChange * 1000).toFixed(1)} ms |`,
  "",
  `The \`Apply\` call itself (API round trip, with its report) took ${median(applyMs).toFixed(1)} ms (median); the rest is translation,`,
  "publication and the clients' own processing.",
  "",
  `Goal (#15): p99 ≤ 100 ms — ${percentile(all, 99) <= 100 ? "met" : "not met"}.`,
  "",
];
const file = join(here, "..", "results", quick ? "xds-propagation.quick.md" : "xds-propagation.md");
writeFileSync(file, lines.join("\n"));
console.log(lines.join("\n"));
console.log(`written: ${file}`);
