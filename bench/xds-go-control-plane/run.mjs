// xDS side by side with go-control-plane: the same snapshot (10,000 routes in 20 route configurations,
// 1,000 EDS clusters and their endpoints, 20 listeners) served by Gantry's xDS server and by a Go server
// on go-control-plane's snapshot cache, to the same raw ADS clients (Go, a few processes, one node id
// and SotW stream each, subscribing as Envoy does and ACKing every response). Per server, several
// rounds of one route change: the time from publishing it until every client ACKs it (the clients
// note their ACKs), the server's CPU per client push, and its RSS. Then Gantry alone with 10,000
// streams. Writes results/xds-vs-go-control-plane.md.
//
//   node bench/xds-go-control-plane/run.mjs [--quick] [--clients N] [--rounds N] [--streams N] [--processes N]
//     [--gantry-only] (skip go-control-plane: to profile Gantry; writes the .quick.md file, never results)
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { localBin } from "../common.mjs";
import { clusters, encodeSnapshot, listeners, routeCount, snapshotResources } from "./snapshot.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const gantryOnly = args.includes("--gantry-only");
const quick = args.includes("--quick") || gantryOnly;
const clientCount = flag("--clients", quick ? 100 : 1_000);
const rounds = flag("--rounds", quick ? 3 : 7);
const manyStreams = flag("--streams", quick ? 1_000 : 10_000);
const processes = flag("--processes", 4);
const versions = { goControlPlane: "v0.14.0", grpcGo: "v1.85.0" };
const hardStop = setTimeout(() => {
  console.error("xds-go-control-plane: over 30 minutes, stopping");
  process.exit(1);
}, 1_800_000);

/** A child speaking one JSON object per line on stdin and stdout. */
function jsonChild(command, argv) {
  const child = spawn(command, argv, { stdio: ["pipe", "pipe", "inherit"] });
  const waiting = [];
  createInterface({ input: child.stdout }).on("line", (line) => waiting.shift()?.(JSON.parse(line)));
  const next = (timeoutMs) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${command}: no answer in ${timeoutMs} ms`)), timeoutMs);
      waiting.push((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  return {
    child,
    next,
    ask: (value, timeoutMs = 120_000) => {
      const answer = next(timeoutMs);
      child.stdin.write(`${JSON.stringify(value)}\n`);
      return answer;
    },
    /** Ends its input and waits (10 s at most) for it to exit on its own: a profiled Node writes its profile then. */
    stop: () => {
      child.stdin.end();
      if (child.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill();
          resolve();
        }, 10_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/** CPU ms (user + system) a process has used, from /proc. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssMiB(pid) {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return kb / 1024;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const sortNumbers = (values) => [...values].sort((a, b) => a - b);
const median = (values) => percentile(sortNumbers(values), 50);

// The Go programs, built from the module proxy at pinned versions, named by the go-control-plane version.
const serverBinary = join(localBin, `gantry-bench-xds-gcp-server-${versions.goControlPlane}`);
const clientsBinary = join(localBin, `gantry-bench-xds-gcp-clients-${versions.goControlPlane}`);
execFileSync("go", ["build", "-o", serverBinary, "./cmd/server"], { cwd: here, stdio: "inherit" });
execFileSync("go", ["build", "-o", clientsBinary, "./cmd/clients"], { cwd: here, stdio: "inherit" });

// One snapshot file per revision: revision 0 first, then one route changed per round.
const dir = mkdtempSync(join(tmpdir(), "gantry-xds-gcp-"));
const routeBytes = snapshotResources(1)
  .filter((r) => r.typeUrl.endsWith("RouteConfiguration"))
  .map((r) => r.value.length);
const files = Array.from({ length: rounds + 1 }, (_, revision) => {
  const file = join(dir, `snapshot-${revision}.bin`);
  writeFileSync(file, encodeSnapshot(snapshotResources(revision)));
  return file;
});

/** One server with `streams` clients: initial sync, then `rounds` changes. */
async function measure(kind, streams, perConn) {
  const server =
    kind === "gantry"
      ? jsonChild(process.execPath, [
          // BENCH_PROFILE_DIR=/tmp/prof: Gantry's server writes a V8 CPU profile there when it stops.
          ...(process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
          "--expose-gc",
          "--max-old-space-size=4096",
          join(here, "gantry-xds.mjs"),
        ])
      : jsonChild(serverBinary, []);
  const { port } = await server.next(60_000);
  await server.ask({ op: "load", file: files[0] });
  await server.ask({ op: "set" });
  const share = Math.ceil(streams / processes);
  const fleet = Array.from({ length: Math.ceil(streams / share) }, (_, p) =>
    jsonChild(clientsBinary, [
      "-server",
      `127.0.0.1:${port}`,
      "-clients",
      String(Math.min(share, streams - p * share)),
      "-first",
      String(p * share),
      "-per-conn",
      String(perConn),
      "-clusters",
      String(clusters),
      "-routes",
      String(listeners),
    ]),
  );
  const all = (command, timeoutMs) => Promise.all(fleet.map((c) => c.ask(command, timeoutMs)));
  const syncStart = performance.now();
  const synced = await all({ op: "sync" }, 900_000);
  const syncMs = performance.now() - syncStart;
  const reconnects = synced.reduce((n, answer) => n + answer.reconnects, 0);
  const rssAfterSync = rssMiB(server.child.pid);
  const results = [];
  for (let r = 1; r <= rounds; r++) {
    await server.ask({ op: "load", file: files[r] });
    await all({ op: "mark" });
    const cpuBefore = cpuMs(server.child.pid);
    const { at } = await server.ask({ op: "set" });
    const acks = (await all({ op: "collect" }, 120_000)).flatMap((answer) => answer.acks);
    const cpu = cpuMs(server.child.pid) - cpuBefore;
    const got = sortNumbers(acks.filter((v) => v >= 0).map((v) => v - at));
    results.push({
      p50: percentile(got, 50),
      p99: percentile(got, 99),
      all: got[got.length - 1],
      missed: acks.length - got.length,
      cpuPerPushUs: (cpu * 1000) / streams,
    });
    console.log(`${kind} ${streams}: round ${r}: all ACKed ${got[got.length - 1]?.toFixed(1)} ms, CPU ${cpu} ms`);
  }
  const rssAfterRounds = rssMiB(server.child.pid);
  // Gantry only: its V8 heap after a full GC, what the streams hold once their responses are written.
  const heapMiB = kind === "gantry" ? (await server.ask({ op: "heap" })).heapMiB : undefined;
  for (const c of fleet) c.child.kill();
  await server.stop();
  return { kind, streams, syncMs, reconnects, rssAfterSync, rssAfterRounds, heapMiB, results };
}

const loadAtStart = loadavg()[0];
const runs = [];
// The results are written after each server's run, so that a later failure keeps what was measured.
for (const [kind, streams, perConn] of [
  ["gantry", clientCount, 1],
  ...(gantryOnly ? [] : [["go-control-plane", clientCount, 1]]),
  ["gantry", manyStreams, 100],
]) {
  try {
    runs.push(await measure(kind, streams, perConn));
  } catch (err) {
    runs.push({ kind, streams, failed: String(err) });
  }
  writeResults(runs);
}
rmSync(dir, { recursive: true, force: true });
clearTimeout(hardStop);
process.exit(0);

function writeResults(runs) {
  const loadAtEnd = loadavg()[0];

  const ms = (v) => (v === undefined ? "–" : `${v.toFixed(1)} ms`);
  const spread = (values, format) => `${format(Math.min(...values))}–${format(Math.max(...values))}`;
  const row = (run) => {
    if (run.failed) return `| ${run.kind} | ${run.streams.toLocaleString("en")} | failed: ${run.failed} |||||||| `;
    const all = run.results.map((r) => r.all);
    const p99 = run.results.map((r) => r.p99);
    const cpu = run.results.map((r) => r.cpuPerPushUs);
    const us = (v) => `${v.toFixed(0)} µs`;
    return `| ${run.kind === "gantry" ? "Gantry" : `go-control-plane ${versions.goControlPlane}`} | ${run.streams.toLocaleString("en")} | ${(run.syncMs / 1000).toFixed(2)} s | ${ms(median(run.results.map((r) => r.p50)))} | ${ms(median(p99))} (${spread(p99, ms)}) | ${ms(median(all))} (${spread(all, ms)}) | ${run.results.reduce((n, r) => n + r.missed, 0)} (${run.reconnects}) | ${us(median(cpu))} (${spread(cpu, us)}) | ${run.rssAfterSync.toFixed(0)} MiB / ${run.rssAfterRounds.toFixed(0)} MiB | ${run.heapMiB === undefined ? "–" : `${run.heapMiB.toFixed(0)} MiB`} |`;
  };
  const gantry = runs[0];
  const gcp = runs.find((run) => run.kind === "go-control-plane");
  const many = runs.find((run, i) => i > 0 && run.kind === "gantry");
  const measured = (run) => run !== undefined && run.failed === undefined;
  const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
  const allOf = (run) => median(run.results.map((r) => r.all));
  const cpuOf = (run) => median(run.results.map((r) => r.cpuPerPushUs));
  const lines = [
    "# xDS side by side with go-control-plane",
    "",
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown CPU"}), ${(totalmem() / 2 ** 20).toFixed(0)} MiB memory, Node ${process.version}, go-control-plane ${versions.goControlPlane} (its envoy API module as grpc-go ${versions.grpcGo} requires it), Go ${execFileSync("go", ["env", "GOVERSION"]).toString().trim()}.`,
    `Load average (1 min) at start and end: ${loadAtStart.toFixed(1)} and ${loadAtEnd.toFixed(1)}; above ${cpus().length}, other work shared the CPUs and the times are inflated.`,
    "",
    `Snapshot (the same bytes for both, encoded by Gantry): ${listeners} listeners, each with its routes by RDS (${routeCount.toLocaleString("en")} routes in ${listeners} route configurations), ${clusters.toLocaleString("en")} EDS clusters and their endpoints (3 each).`,
    "Every node gets the same snapshot: Gantry groups every node into one snapshot group; go-control-plane's snapshot cache",
    "is given a node hash that maps every node to one key, and a version per type (a hash of its resources), so that a",
    "route change re-sends routes only. Both serve plain TCP on loopback, with their defaults otherwise (go-control-plane's",
    "`server.NewServer` with no callbacks on a grpc-go server; Gantry's xDS server with proxy status, the ACK ledger and metrics).",
    `Clients: raw ADS clients in Go (grpc-go ${versions.grpcGo}), ${processes} processes, each client its own node id and SotW stream`,
    "(its own connection at 1,000; 100 streams per connection at 10,000), subscribing as Envoy does (CDS and LDS wildcard,",
    `EDS for the ${clusters.toLocaleString("en")} clusters and RDS for the ${listeners} route configurations by name) and ACKing every response at once.`,
    `Each of ${rounds} rounds changes one route: from just before the server publishes it to each client's ACK of the`,
    'new routes, as the client notes it; "all ACKed" is the slowest client. Server CPU (user + system, from /proc) over the',
    "round, divided by the number of clients: CPU per push. RSS after the initial sync and after the rounds.",
    "",
    "| server | clients | initial sync | change → ACKed, p50 (median of rounds) | p99 (spread) | all ACKed (spread) | missed (streams reopened) | server CPU per push (spread) | server RSS: synced / after rounds | V8 heap after GC |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...runs.map(row),
    "",
    measured(gantry) && measured(gcp)
      ? `Gantry vs go-control-plane at ${clientCount.toLocaleString("en")} clients: all ACKed ${ratio(allOf(gantry), allOf(gcp))} the time, CPU per push ${ratio(cpuOf(gantry), cpuOf(gcp))}, RSS ${ratio(gantry.rssAfterRounds, gcp.rssAfterRounds)} (below 1× is Gantry ahead).`
      : "Not both measured: no ratio.",
    "",
    `What one change sends each client: go-control-plane's SotW response carries every resource of the type the client asked for,`,
    `here all ${listeners} route configurations (${(routeBytes.reduce((a, b) => a + b, 0) / 1024).toFixed(0)} KiB); Gantry's carries only the route configuration that changed`,
    `(${(routeBytes[0] / 1024).toFixed(0)} KiB), as Envoy and gRPC accept for RDS. Most of the gap in time and CPU is those bytes, encoded per client.`,
    "RSS is the process's after the initial sync, when every client got its whole snapshot at once; the V8 heap after a full",
    "GC is what Gantry keeps once those responses are written.",
    "",
    "## Goals (#18)",
    "",
    measured(gantry) && measured(gcp)
      ? `- Gantry ahead of go-control-plane on change → all ACKed, CPU per push and RSS: ${[allOf(gantry) < allOf(gcp), cpuOf(gantry) < cpuOf(gcp), gantry.rssAfterRounds < gcp.rssAfterRounds].map((ok, i) => `${["time", "CPU", "RSS"][i]} ${ok ? "ahead" : "behind"}`).join(", ")}.`
      : "- Gantry ahead of go-control-plane: not measured.",
    measured(gantry)
      ? `- RSS with ${routeCount.toLocaleString("en")} routes, ${clusters.toLocaleString("en")} clusters and ${clientCount.toLocaleString("en")} connected clients ≤ 300 MiB (the xDS server process): ${gantry.rssAfterRounds.toFixed(0)} MiB, ${gantry.rssAfterRounds <= 300 ? "met" : "not met"}.`
      : "- RSS with 1,000 connected clients: not measured.",
    measured(many)
      ? `- ${manyStreams.toLocaleString("en")} ADS streams on one process, change → all ACKed ≤ 1 s: median ${ms(allOf(many))}, ${allOf(many) <= 1000 ? "met" : "not met"}.`
      : `- ${manyStreams.toLocaleString("en")} ADS streams on one process: not measured.`,
    "",
  ];
  const file = join(here, "..", "results", quick ? "xds-vs-go-control-plane.quick.md" : "xds-vs-go-control-plane.md");
  writeFileSync(file, lines.join("\n"));
  console.log(lines.join("\n"));
  console.log(`written: ${file}`);
}
