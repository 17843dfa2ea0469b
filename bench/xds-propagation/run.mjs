// One route change → applied in every proxyless Go gRPC client: 100 clients (each its own xDS client, node id
// and ADS stream), each with a channel to 20 targets, served by `gantry server` as its users run it (its own
// process, default debounce). Each round moves one target's route to the other backend through the API and
// times, per client, until that client's calls reach the new backend. Writes results/xds-propagation.md.
//
//   node bench/xds-propagation/run.mjs [--quick] [--clients N] [--targets N] [--rounds N] [--trace]
//                                      [--poll-ms 50] [--poll-after-dial-ms 1]
//
// --trace runs the server as traced-server.mjs (the same server, in-process store and xDS hooks that
// record every stream event) and adds where one change's time goes: stored, translated, first and last
// push, request and ACK of each type, the Go clients' dials of the new backend and their first answer.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
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
const tracing = args.includes("--trace");
const clients = flag("--clients", quick ? 10 : 100);
const targets = flag("--targets", quick ? 4 : 20);
const rounds = flag("--rounds", quick ? 4 : 40);
// Each client calls every --poll-ms until its channel dials the new backend (no call can reach it before),
// then every --poll-after-dial-ms. 5 and 5: every 5 ms throughout, as this bench did until 2026-12-03; the
// calls of 100 clients every 5 ms took more CPU than the server, on the same 2 cores.
const pollMs = flag("--poll-ms", 50);
const pollAfterDialMs = flag("--poll-after-dial-ms", 1);
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
const traceDir = tracing ? mkdtempSync(join(tmpdir(), "xds-propagation-")) : undefined;
const traceFile = traceDir && join(traceDir, "server.jsonl");
// BENCH_PROFILE_DIR=/tmp/prof: the server writes a V8 CPU profile there when it stops.
const nodeFlags = process.env.BENCH_PROFILE_DIR
  ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
  : [];
const serverArgs = tracing
  ? [join(here, "traced-server.mjs"), String(xdsPort), String(apiPort), traceFile]
  : [
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
    ];
const server = spawn(process.execPath, [...nodeFlags, ...serverArgs], {
  stdio: ["ignore", tracing ? "pipe" : "inherit", "inherit"],
  env: { ...process.env, GANTRY_API_TOKEN: token },
});
// A failed run (a client that never connects) must not leave the server running.
process.once("exit", () => server.kill("SIGTERM"));
if (tracing) {
  // The traced server has no metrics port: it says it is ready on stdout.
  await new Promise((resolve, reject) => {
    createInterface({ input: server.stdout }).once("line", resolve);
    server.once("exit", (code) => reject(new Error(`traced server exited (${code})`)));
  });
} else {
  await untilHealthy(metricsPort);
}

const go = jsonChild(binary, [
  "-xds",
  `127.0.0.1:${xdsPort}`,
  "-clients",
  String(clients),
  "-targets",
  String(targets),
  "-poll",
  `${pollMs}ms`,
  "-poll-after-dial",
  `${pollAfterDialMs}ms`,
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
const goCpuBefore = cpuSeconds(go.child.pid);
const perRound = [];
const applyMs = [];
const all = [];
/** Per round, for the trace: wall-clock ms of the apply's start, the Go clients' answers. */
const traced = [];
let missed = 0;
for (let r = 0; r < rounds; r++) {
  const t = r % targets;
  where[t] = where[t] === "a" ? "b" : "a";
  const answer = go.next(30_000);
  go.send({ op: "measure", target: `t${t}.bench`, expect: where[t] });
  const applyStart = performance.now();
  const applyAt = performance.timeOrigin + applyStart;
  await apply(apiPort, [table(t, where[t])]);
  applyMs.push(performance.now() - applyStart);
  const { ms, dialMs, began } = await answer;
  traced.push({ applyAt, began, ms, dialMs });
  missed += ms.filter((v) => v < 0).length;
  const got = ms.filter((v) => v >= 0).sort((a, b) => a - b);
  all.push(...got);
  perRound.push({ p50: percentile(got, 50), p99: percentile(got, 99), max: got[got.length - 1] });
}
const cpuPerChange = (cpuSeconds(server.pid) - cpuBefore) / rounds;
const goCpuPerChange = (cpuSeconds(go.child.pid) - goCpuBefore) / rounds;
go.child.stdin.end();
go.child.kill();
const serverExited = new Promise((resolve) => server.once("exit", resolve));
server.kill("SIGTERM");
await serverExited;
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
  `backend with one \`Apply\` through the management API, and every client calls that target until the new backend answers:`,
  `every ${pollMs} ms until its channel dials the new backend, then every ${pollAfterDialMs} ms (no call can reach the new backend`,
  `before that dial: this spares only calls that cannot succeed). The time is from just before the \`Apply\` to that answer.`,
  "",
  "| clients × targets | change → applied, p50 (all clients, all rounds) | p99 | per-round p99: median | min–max | slowest client | missed (10 s) | server CPU per change |",
  "|---|---|---|---|---|---|---|---|",
  `| ${clients} × ${targets} | ${fmt(percentile(all, 50))} | ${fmt(percentile(all, 99))} | ${fmt(median(p99s))} | ${fmt(p99s[0])}–${fmt(p99s[p99s.length - 1])} | ${fmt(all[all.length - 1])} | ${missed} | ${(cpuPerChange * 1000).toFixed(1)} ms |`,
  "",
  `The \`Apply\` call itself (API round trip, with its report) took ${median(applyMs).toFixed(1)} ms (median); the rest is translation,`,
  "publication and the clients' own processing.",
  `The Go process (the clients, their calls, the backends) used ${(goCpuPerChange * 1000).toFixed(1)} ms of CPU per change.`,
  "",
  `Goal (#15): p99 ≤ 100 ms — ${percentile(all, 99) <= 100 ? "met" : "not met"}.`,
  "",
];
if (traceFile) {
  lines.push(...breakdown(readFileSync(traceFile, "utf8"), traced));
  rmSync(traceDir, { recursive: true, force: true });
}
const file = join(here, "..", "results", `xds-propagation${quick ? ".quick" : ""}${tracing ? ".trace" : ""}.md`);
writeFileSync(file, lines.join("\n"));
console.log(lines.join("\n"));
console.log(`written: ${file}`);

/**
 * Where one change's time goes: per round, each step's first and last time after the apply began (the
 * server's events by type, the Go clients' dials and answers), then per step the median over rounds.
 */
function breakdown(text, rounds) {
  const events = text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
  const steps = new Map();
  const note = (step, values) => {
    if (values.length === 0) return;
    const entry = steps.get(step) ?? { first: [], last: [], count: [] };
    entry.first.push(Math.min(...values));
    entry.last.push(Math.max(...values));
    entry.count.push(values.length);
    steps.set(step, entry);
  };
  rounds.forEach(({ applyAt, began, ms, dialMs }, r) => {
    const end = rounds[r + 1]?.applyAt ?? Number.POSITIVE_INFINITY;
    const mine = events.filter((e) => e.t >= applyAt && e.t < end);
    const since = (e) => e.t - applyAt;
    const stored = mine.find((e) => e.ev === "stored");
    note(
      "apply: its report read the store",
      mine
        .filter((e) => e.ev === "snapshot")
        .map(since)
        .slice(0, 1),
    );
    note("apply: stored", stored ? [since(stored)] : []);
    const translating = mine.find((e) => e.ev === "snapshot" && stored && e.t > stored.t);
    note("translation began (store read)", translating ? [since(translating)] : []);
    const published = mine
      .filter((e) => e.ev === "push" && e.type === "RouteConfiguration" && e.publishedAt !== undefined)
      .map((e) => e.publishedAt - applyAt);
    note("published (routes set in the cache)", published.length > 0 ? [Math.max(...published)] : []);
    for (const type of ["RouteConfiguration", "Cluster", "ClusterLoadAssignment", "Listener"]) {
      note(
        `${type}: request (not an ACK)`,
        mine.filter((e) => e.ev === "request" && e.type === type && !e.ack).map(since),
      );
      note(
        `${type}: request with a nonce`,
        mine.filter((e) => e.ev === "request" && e.type === type && e.ack).map(since),
      );
      note(`${type}: push written`, mine.filter((e) => e.ev === "push" && e.type === type).map(since));
      note(`${type}: ACK`, mine.filter((e) => e.ev === "ack" && e.type === type).map(since));
      note(`${type}: NACK`, mine.filter((e) => e.ev === "nack" && e.type === type).map(since));
    }
    const offset = began - applyAt;
    note(
      "Go: dial of the new backend",
      dialMs.filter((v) => v >= 0).map((v) => v + offset),
    );
    note(
      "Go: first answer from the new backend",
      ms.filter((v) => v >= 0).map((v) => v + offset),
    );
  });
  const med = (values) => median(values).toFixed(1);
  return [
    "### Where the time goes (--trace)",
    "",
    "Milliseconds after the `Apply` call began; for each step its first and last event in a round, the median over rounds.",
    "",
    "| step | events per round | first | last |",
    "|---|---|---|---|",
    ...[...steps]
      .sort(([, a], [, b]) => median(a.first) - median(b.first))
      .map(([step, { first, last, count }]) => `| ${step} | ${med(count)} | ${med(first)} | ${med(last)} |`),
    "",
  ];
}
