// RBAC decision overhead in a real xDS-enabled Go gRPC server (test/interop/go-mtls): the same server
// and Listener with no AccessPolicy, then with 100 AccessPolicies (the health Check allowed by the last
// one's rule), per call latency (one call in flight), throughput (16 in flight) and the server's CPU per
// call. Plaintext, so that the handshake's cost (per connection, not per call) stays out of the numbers.
//   node bench/trust/rbac.mjs [--quick] [--rounds N]       (build first: npm run build; Go for the binary)
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createLogger } from "../../dist/lib/logger.js";
import { createRegistry } from "../../dist/lib/metrics.js";
import { buildGrpcBootstrap } from "../../dist/server/bootstrap-grpc.js";
import { startManagementServer } from "../../dist/server/index.js";
import { MemoryStore } from "../../dist/store/index.js";
import { findTool, freePort, median, spread, treeCpuSeconds } from "../common.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const rounds = Number(args[args.indexOf("--rounds") + 1]) || (quick ? 1 : 5);
const latencyCalls = quick ? 200 : 3_000;
const loadCalls = quick ? 2_000 : 30_000;
const policyCount = 100;

const binary = findTool("gantry-mtls-go-v2");
if (!binary) throw new Error("gantry-mtls-go-v2 is not built: run node scripts/test-prereqs.mjs");

const serverPort = await freePort();
const store = new MemoryStore();
const server = await startManagementServer({
  store,
  host: "127.0.0.1",
  xdsPort: 0,
  apiPort: 0,
  apiToken: undefined,
  insecureApi: true,
  logger: createLogger({ service: "bench", level: "error" }),
  registry: createRegistry("server", { processMetrics: false }),
  debounce: { quietMs: 10, maxDelayMs: 100 },
});

const meta = (name, labels = {}) => ({ name, namespace: "bench", labels });
const base = [
  {
    apiVersion: "gantry/v1",
    kind: "Destination",
    metadata: meta("greeter", { app: "greeter" }),
    spec: { ports: [{ number: serverPort, protocol: "GRPC" }], endpoints: [{ address: "127.0.0.1" }] },
  },
  {
    apiVersion: "gantry/v1",
    kind: "Gateway",
    metadata: meta("servers"),
    spec: {
      kind: "GRPC_SERVER",
      proxies: { labels: { app: "bench-server" } },
      listeners: [{ port: serverPort, bindAddress: "127.0.0.1", destination: { name: "greeter" } }],
    },
  },
  {
    apiVersion: "gantry/v1",
    kind: "Gateway",
    metadata: meta("callers"),
    spec: { kind: "GRPC_PROXYLESS", proxies: { labels: { app: "bench-client" } } },
  },
  {
    apiVersion: "gantry/v1",
    kind: "RouteTable",
    metadata: meta("greeter"),
    spec: {
      hosts: ["greeter.bench"],
      gateways: [{ name: "callers" }],
      http: [{ name: "all", forwardTo: { destinations: [{ destination: { name: "greeter" } }] } }],
    },
  },
];

/** 99 ALLOW policies that do not match the health Check (another path, a header it lacks), and one that does. */
const policies = Array.from({ length: policyCount }, (_, i) => ({
  apiVersion: "gantry/v1",
  kind: "AccessPolicy",
  metadata: meta(`p${String(i).padStart(3, "0")}`),
  spec: {
    rules: [
      i === policyCount - 1
        ? { to: { paths: ["/grpc.health.v1.Health/*"] } }
        : { to: { paths: [`/bench.Service${i}/*`] }, when: [{ name: `x-tenant-${i}`, values: ["a", "b"] }] },
    ],
  },
}));

function bootstrap(nodeId, labels) {
  return JSON.stringify(buildGrpcBootstrap({ nodeId, labels, xdsHost: "127.0.0.1", xdsPort: server.xdsPort }));
}

function startProcess(mode, extra, labels) {
  const child = spawn(binary, [mode, ...extra], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap(`bench-${mode}`, labels) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const value = JSON.parse(line);
    lines.push(value);
    for (const w of waiters.splice(0)) w();
  });
  const next = (test) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${mode}: timed out`)), 60_000);
      const check = () => {
        const found = lines.find(test);
        if (found) {
          clearTimeout(timer);
          lines.splice(lines.indexOf(found), 1);
          resolve(found);
        } else waiters.push(check);
      };
      check();
    });
  return { child, next };
}

await store.apply(base);
await server.settle();
const goServer = startProcess("server", ["-address", `127.0.0.1:${serverPort}`], { app: "bench-server" });
await goServer.next((e) => e.event === "mode" && e.mode === "SERVING");
const client = startProcess("client", [], { app: "bench-client" });
let id = 0;
async function run(calls, concurrency, method = "") {
  const mine = id++;
  client.child.stdin.write(
    `${JSON.stringify({ id: mine, target: "xds:///greeter.bench", method, calls, concurrency, timeoutMs: 10_000, creds: "xds" })}\n`,
  );
  return client.next((r) => r.id === mine);
}

/** Applies one configuration and waits until the server enforces it (Whoami is allowed only without policies). */
async function configure(withPolicies) {
  if (withPolicies) await store.apply(policies);
  else await store.delete(policies.map((p) => ({ kind: "AccessPolicy", namespace: "bench", name: p.metadata.name })));
  await server.settle();
  const want = withPolicies ? "7" : "0";
  for (let i = 0; i < 500; i++) {
    const r = await run(1, 1, "/gantry.interop.v1.Identity/Whoami");
    if (r.codes[want] === 1) return;
  }
  throw new Error(`the server did not take the configuration with${withPolicies ? "" : "out"} policies`);
}

async function measure() {
  await run(200, 4); // warm the connection and both paths
  const latency = await run(latencyCalls, 1);
  const cpuBefore = treeCpuSeconds(goServer.child.pid);
  const load = await run(loadCalls, 16);
  const cpu = treeCpuSeconds(goServer.child.pid) - cpuBefore;
  for (const r of [latency, load]) {
    if (r.codes["0"] !== (r === latency ? latencyCalls : loadCalls))
      throw new Error(`failed calls: ${JSON.stringify(r)}`);
  }
  return {
    usPerCall: latency.elapsedUs / latencyCalls,
    callsPerSecond: loadCalls / (load.elapsedUs / 1e6),
    cpuUsPerCall: (cpu * 1e6) / loadCalls,
  };
}

const results = { none: [], policies: [] };
for (let round = 0; round < rounds; round++) {
  for (const which of ["none", "policies"]) {
    await configure(which === "policies");
    results[which].push(await measure());
    console.log(`round ${round + 1}/${rounds} ${which}: ${JSON.stringify(results[which].at(-1))}`);
  }
}

client.child.stdin.end();
goServer.child.kill("SIGTERM");
client.child.kill("SIGTERM");
await server.stop();

const col = (which, key, digits) =>
  spread(
    results[which].map((r) => r[key]),
    digits,
  );
const ratio = (key) =>
  (median(results.policies.map((r) => r[key])) / median(results.none.map((r) => r[key]))).toFixed(2);
const [load1] = loadavg();
const lines = [
  "# RBAC decision overhead in a Go xDS-enabled gRPC server: 100 AccessPolicies vs none",
  "",
  `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load average ${load1.toFixed(2)} at the end`,
  "(a machine shared with other engineers' work: read the ratios, re-run on a quiet machine with `node bench/trust/rbac.mjs`).",
  "",
  `Go gRPC v1.85.0 server (test/interop/go-mtls) with its Listener from Gantry (GRPC_SERVER gateway), health Check`,
  `calls from the Go xDS client over plaintext (the TLS handshake is per connection, not per call). "100 policies":`,
  `100 ALLOW AccessPolicies on the destination, 99 of them a path and a header the call lacks, the last allowing`,
  `the call; one RBAC filter of 100 policies. Median (min–max) over ${rounds} rounds; ${latencyCalls} calls one at`,
  `a time for latency, ${loadCalls} calls 16 in flight for throughput and the server's CPU (user + system, /proc).`,
  "",
  "| measure | no policy | 100 policies | ratio |",
  "|---|---|---|---|",
  `| latency per call, 1 in flight (µs) | ${col("none", "usPerCall", 0)} | ${col("policies", "usPerCall", 0)} | ${ratio("usPerCall")} |`,
  `| throughput, 16 in flight (calls/s) | ${col("none", "callsPerSecond", 0)} | ${col("policies", "callsPerSecond", 0)} | ${ratio("callsPerSecond")} |`,
  `| server CPU per call (µs) | ${col("none", "cpuUsPerCall", 1)} | ${col("policies", "cpuUsPerCall", 1)} | ${ratio("cpuUsPerCall")} |`,
  "",
];
const out = join(root, "bench", "results", quick ? "trust-rbac.quick.md" : "trust-rbac.md");
writeFileSync(out, `${lines.join("\n")}`);
console.log(lines.join("\n"));
console.log(`wrote ${out}`);
process.exit(0);
