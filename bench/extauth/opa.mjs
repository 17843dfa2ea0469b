// Benchmark: Gantry's ext-auth server deciding with an RBAC-style OPA policy (Rego compiled to
// WebAssembly), side by side in one run with the raw node:http2 + protobuf-es ceiling and, when it
// is installed, the OPA-Envoy plugin on the same policy and requests. Each server runs in its own
// process and the load generator in another; load goes to loopback only, bounded in time.
//   npm run build && node bench/extauth/opa.mjs
// Writes bench/results/extauth-opa.md.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { createOpaAuthFactory } from "../../dist/extauth/evaluators/opa/index.js";
import { Authorization, CheckRequestSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import { OpaAuthSchema } from "../../dist/gen/gantry/extauth/v1/opa_pb.js";
import { createClient, createLogger, systemClock } from "../../dist/lib/index.js";
import { findTool, freePort, machine, readyLine, runLoad, startProcess } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const load = { connections: 2, streamsPerConnection: 32, warmupMs: 1_000, durationMs: 5_000 };
const rounds = 5;
const gantryName = "Gantry ext-auth, opaAuth RBAC policy (wasm)";
const pluginName = "OPA-Envoy plugin, same policy";
const trivialName = "Gantry ext-auth, opaAuth `allow := true` (server cost)";

/** Requests as Envoy sends them: realistic headers; two users allowed, two denied. */
const cases = [
  { user: "alice", method: "DELETE", path: "/api/people/7", allowed: true },
  { user: "bob", method: "POST", path: "/api/invoices?draft=true", allowed: true },
  { user: "carol", method: "POST", path: "/api/invoices", allowed: false },
  { user: "dan", method: "GET", path: "/api/people", allowed: false },
];

function checkRequest({ user, method, path }, index) {
  return create(CheckRequestSchema, {
    attributes: {
      source: {
        address: {
          address: {
            case: "socketAddress",
            value: { address: "10.1.2.3", portSpecifier: { case: "portValue", value: 40000 + index } },
          },
        },
      },
      destination: {
        address: {
          address: {
            case: "socketAddress",
            value: { address: "10.9.8.7", portSpecifier: { case: "portValue", value: 8080 } },
          },
        },
      },
      request: {
        time: { seconds: 1_790_000_000n, nanos: 0 },
        http: {
          id: `1234567890${index}`,
          method,
          path,
          host: "api.example.com",
          scheme: "https",
          protocol: "HTTP/1.1",
          headers: {
            ":authority": "api.example.com",
            ":method": method,
            ":path": path,
            ":scheme": "https",
            accept: "application/json",
            "user-agent": "bench/1.0",
            "x-forwarded-proto": "https",
            "x-request-id": `6f1c7a2e-0b7d-4c55-9d1e-00000000000${index}`,
            "x-user": user,
          },
        },
      },
      contextExtensions: { config_id: "rbac" },
    },
  });
}

async function verify(port, expectDecisions) {
  const client = createClient(Authorization, `127.0.0.1:${port}`);
  try {
    for (const [index, c] of cases.entries()) {
      const response = await client.check(checkRequest(c, index), { timeoutMs: 5_000 });
      const allowed = (response.status?.code ?? 0) === 0;
      if (expectDecisions && allowed !== c.allowed) {
        throw new Error(`port ${port}: ${c.user} ${c.method} ${c.path} was ${allowed ? "allowed" : "denied"}`);
      }
    }
  } finally {
    client.close();
  }
}

/** Per-evaluation cost in process: input building, WebAssembly evaluation and decision reading. */
async function evaluationCost(bundle) {
  const deps = {
    clock: systemClock,
    logger: createLogger({ service: "bench", level: "silent" }),
    redis: undefined,
    baseDir: "/",
  };
  const evaluator = await createOpaAuthFactory()(create(OpaAuthSchema, { wasmBundle: bundle }), deps, "opaAuth");
  const contexts = cases.map((c, i) => {
    const request = checkRequest(c, i);
    const headers = request.attributes.request.http.headers;
    return { request, headers, state: new Map(), signal: new AbortController().signal };
  });
  const iterations = 20_000;
  for (let i = 0; i < 2_000; i++) evaluator.evaluate(contexts[i % contexts.length]);
  const started = performance.now();
  for (let i = 0; i < iterations; i++) evaluator.evaluate(contexts[i % contexts.length]);
  return ((performance.now() - started) * 1_000) / iterations;
}

const opa = findTool("opa");
if (!opa) throw new Error("opa is not installed: run `node scripts/test-prereqs.mjs` (it builds it into .cache/bin)");
const loadBefore = loadavg()[0];
const work = mkdtempSync(join(tmpdir(), "gantry-bench-opa-"));
try {
  const policy = join(here, "opa-rbac.rego");
  const bundle = join(work, "rbac.tar.gz");
  execFileSync(opa, ["build", "-t", "wasm", "-e", "envoy/authz/allow", "-o", bundle, policy]);
  // The same server with a policy that decides nothing: what the server costs without the policy's work.
  const trivialPolicy = join(work, "trivial.rego");
  writeFileSync(trivialPolicy, "package envoy.authz\n\nallow := true\n");
  const trivialBundle = join(work, "trivial.tar.gz");
  execFileSync(opa, ["build", "-t", "wasm", "-e", "envoy/authz/allow", "-o", trivialBundle, trivialPolicy]);
  const requestsFile = join(work, "requests.json");
  writeFileSync(
    requestsFile,
    JSON.stringify(
      cases.map((c, i) => Buffer.from(toBinary(CheckRequestSchema, checkRequest(c, i))).toString("base64")),
    ),
  );

  const microseconds = await evaluationCost(bundle);
  const targets = [
    {
      name: "raw node:http2 + protobuf-es (ceiling, allows all)",
      start: () => startProcess("ceiling", process.execPath, [join(here, "opa-target.mjs"), "ceiling"], readyLine),
      decides: false,
    },
    {
      name: gantryName,
      start: () =>
        startProcess("gantry", process.execPath, [join(here, "opa-target.mjs"), "gantry", bundle], readyLine),
      decides: true,
    },
    {
      name: trivialName,
      start: () =>
        startProcess("gantry", process.execPath, [join(here, "opa-target.mjs"), "gantry", trivialBundle], readyLine),
      decides: false,
    },
  ];
  const plugin = findTool("opa-envoy-plugin");
  if (plugin) {
    targets.push({
      name: pluginName,
      decides: true,
      start: async () => {
        const grpcPort = await freePort();
        const httpPort = await freePort();
        const target = await startProcess(
          "opa-envoy-plugin",
          plugin,
          [
            "run",
            "--server",
            `--addr=127.0.0.1:${httpPort}`,
            `--set=plugins.envoy_ext_authz_grpc.addr=127.0.0.1:${grpcPort}`,
            "--set=plugins.envoy_ext_authz_grpc.path=envoy/authz/allow",
            "--set=decision_logs.console=false",
            policy,
          ],
          async () => {
            try {
              const response = await fetch(`http://127.0.0.1:${httpPort}/health?plugins`);
              return response.ok ? grpcPort : undefined;
            } catch {
              return undefined;
            }
          },
        );
        return target;
      },
    });
  }

  const results = new Map(targets.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) {
      const running = await target.start();
      try {
        await verify(running.port, target.decides);
        const result = runLoad(running.port, requestsFile, load);
        results.get(target.name).push(result);
        console.log(
          `round ${round + 1} ${target.name}: ${Math.round(result.rps)} req/s, p99 ${result.p99.toFixed(2)} ms`,
        );
      } finally {
        await running.stop();
      }
    }
  }

  // Medians over rounds, and ratios taken within each round: other work on the machine moves whole
  // rounds up and down together, so a ratio within a round is steadier than a ratio of means.
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  };
  const ceilingRuns = results.get(targets[0].name);
  const summary = targets.map((t) => {
    const runs = results.get(t.name);
    return {
      name: t.name,
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      failures: runs.reduce((a, r) => a + r.failures, 0),
      runs: runs.map((r) => Math.round(r.rps)).join(", "),
      vsCeiling: median(runs.map((r, i) => r.rps / ceilingRuns[i].rps)),
      perRound: runs,
    };
  });
  const ratio = (a, b) => median(a.perRound.map((r, i) => r.rps / b.perRound[i].rps));
  const m = machine();
  const rows = summary.map(
    (s) =>
      `| ${s.name} | ${Math.round(s.rps)} | ${s.runs} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.failures} | ${s.vsCeiling.toFixed(2)}× |`,
  );
  const gantry = summary.find((s) => s.name === gantryName);
  const pluginRow = summary.find((s) => s.name === pluginName);
  const trivial = summary.find((s) => s.name === trivialName);
  const lines = [
    "# ext-auth: OPA (RBAC policy) throughput",
    "",
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB memory, Node ${m.node}.`,
    `Load average (1 min) ${loadBefore.toFixed(1)} before the run and ${loadavg()[0].toFixed(1)} after: other work shared the machine, so read the ratios within a round.`,
    "",
    `Load: unary Check from bench/loadgen (pre-encoded requests on raw HTTP/2 frames, Go) in a separate process, ${load.connections} connections × ${load.streamsPerConnection} streams in flight,`,
    `${load.warmupMs / 1000} s warm-up then ${load.durationMs / 1000} s measured, ${rounds} rounds alternating the servers (each server in its own process).`,
    "Requests: four Envoy-like CheckRequests (9 headers, socket addresses, time), two allowed and two denied by the policy",
    "(`bench/extauth/opa-rbac.rego`: users → roles → method/resource grants, using `parsed_path`). Decisions are checked before each run.",
    "",
    "Figures are medians over the rounds; `vs ceiling` is the median of the ratios within each round.",
    "",
    "| server | req/s | req/s per round | p50 ms | p99 ms | failed calls | vs ceiling |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Gantry / ceiling: **${gantry.vsCeiling.toFixed(2)}×** (goal ≥ 0.5×). The same server with a policy that decides nothing`,
    `runs at ${trivial.vsCeiling.toFixed(2)}× the ceiling: that part of the gap is the server (gRPC transport, the Check service, building the OPA input), not the policy;`,
    `within a round, RBAC / nothing-deciding = ${ratio(gantry, trivial).toFixed(2)}× (a figure above 1 is the machine's noise).`,
    pluginRow
      ? `Gantry / OPA-Envoy plugin: **${ratio(gantry, pluginRow).toFixed(2)}×** throughput (goal ≥ 1.0×), p99 ${gantry.p99.toFixed(2)} ms vs ${pluginRow.p99.toFixed(2)} ms.`
      : "OPA-Envoy plugin: not measured — it is not installed here (`go install github.com/open-policy-agent/opa-envoy-plugin/cmd/opa-envoy-plugin@<version>` into `.cache/bin`; the module proxy refused it on this machine). The harness runs it on the same policy and requests when it is present.",
    "",
    `In process, one policy evaluation (input building + WebAssembly + decision) costs ${microseconds.toFixed(1)} µs on average over these requests.`,
    "",
  ];
  const resultsFile = join(root, "bench", "results", "extauth-opa.md");
  writeFileSync(resultsFile, lines.join("\n"));
  console.log(`\n${lines.join("\n")}\nwritten to ${resultsFile}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
