// Benchmark: Gantry's ext-auth server deciding with an RBAC-style OPA policy (Rego compiled to
// WebAssembly) against the OPA-Envoy plugin on the same policy and requests, side by side in one run,
// all cores each: `gantry extauth --workers <cores>` (and one worker), the plugin with Go on every core.
// With --baselines, two one-core reference points join: node:http2 + protobuf-es answering OK, and
// Gantry with a policy that decides nothing. Each server runs in its own process(es) and the load
// generator in another; load goes to loopback only, bounded in time. Reported: throughput in total and
// per server core, p50/p99, server CPU per call and cores used, medians over rounds with their spread.
//   npm run build && node bench/extauth/opa.mjs [--quick] [--rounds N] [--baselines] [--workers N]
// Writes bench/results/extauth-opa.md.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { createOpaAuthFactory } from "../../dist/extauth/evaluators/opa/index.js";
import { Authorization, CheckRequestSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import { OpaAuthSchema } from "../../dist/gen/gantry/extauth/v1/opa_pb.js";
import { createClient, createLogger, systemClock } from "../../dist/lib/index.js";
import { median, spread, treeCpuSeconds } from "../common.mjs";
import { findTool, freePort, machine, readyLine, runLoad, startProcess } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const quick = process.argv.includes("--quick");
const argument = (flag, fallback) => {
  const at = process.argv.indexOf(flag);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const withBaselines = process.argv.includes("--baselines");
const workers = argument("--workers", availableParallelism());
const load = { connections: 4, streamsPerConnection: 16, warmupMs: 1_000, durationMs: quick ? 2_000 : 5_000 };
const rounds = argument("--rounds", quick ? 1 : 3);
const gantryName = `Gantry ext-auth, ${workers} workers, opaAuth RBAC policy (wasm)`;
const oneWorkerName = "Gantry ext-auth, 1 worker, same policy";
const pluginName = "OPA-Envoy plugin, same policy";
const trivialName = "baseline: Gantry ext-auth, 1 worker, opaAuth `allow := true`";
const nodeHttp2Name = "baseline: node:http2 + protobuf-es, allows all (1 core)";

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
  /** `gantry extauth --workers count` on a config file naming `wasm`; ready once /readyz says so. */
  const gantryCli = (count, wasm) => async () => {
    const configFile = join(work, `auth-${count}-${wasm === bundle ? "rbac" : "trivial"}.yaml`);
    writeFileSync(
      configFile,
      `rbac:\n  configs:\n    - name: rbac\n      opaAuth: { wasmBundle: ${JSON.stringify(wasm)} }\n`,
    );
    const [grpcPort, metricsPort] = [await freePort(), await freePort()];
    return startProcess(
      "gantry extauth",
      process.execPath,
      [
        join(root, "bin", "gantry.js"),
        "extauth",
        "--host",
        "127.0.0.1",
        "--grpc-port",
        String(grpcPort),
        "--metrics-port",
        String(metricsPort),
        "--config",
        configFile,
        "--workers",
        String(count),
        "--log-level",
        "error",
      ],
      async () => {
        try {
          return (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok ? grpcPort : undefined;
        } catch {
          return undefined;
        }
      },
    );
  };
  const targets = [
    { name: gantryName, start: gantryCli(workers, bundle), decides: true },
    ...(workers > 1 ? [{ name: oneWorkerName, start: gantryCli(1, bundle), decides: true }] : []),
  ];
  const plugin = findTool("opa-envoy-plugin");
  if (!plugin) throw new Error("opa-envoy-plugin is not in .cache/bin: run `node scripts/test-prereqs.mjs`");
  targets.push({
    name: pluginName,
    decides: true,
    start: async () => {
      const grpcPort = await freePort();
      const httpPort = await freePort();
      return startProcess(
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
    },
  });
  if (withBaselines) {
    targets.push(
      { name: trivialName, start: gantryCli(1, trivialBundle), decides: false },
      {
        name: nodeHttp2Name,
        start: () =>
          startProcess("node:http2", process.execPath, [join(here, "opa-target.mjs"), "node-http2"], readyLine),
        decides: false,
      },
    );
  }

  const results = new Map(targets.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) {
      const running = await target.start();
      try {
        await verify(running.port, target.decides);
        // Warm-up is part of the load run; CPU is read around the whole run and scaled to the measured part.
        const cpuBefore = treeCpuSeconds(running.pid);
        const startedAt = performance.now();
        const result = runLoad(running.port, requestsFile, load);
        const wall = (performance.now() - startedAt) / 1000;
        const cpu = treeCpuSeconds(running.pid) - cpuBefore;
        result.serverCores = cpu / wall;
        result.cpuPerCall = (result.serverCores * 1e6) / Math.max(1, result.rps);
        result.rpsPerCore = result.rps / Math.max(0.01, result.serverCores);
        results.get(target.name).push(result);
        console.log(
          `round ${round + 1} ${target.name}: ${Math.round(result.rps)} req/s, ${Math.round(result.rpsPerCore)} per core, p99 ${result.p99.toFixed(2)} ms, ${result.serverCores.toFixed(2)} cores`,
        );
      } finally {
        await running.stop();
      }
    }
  }

  // Ratios are taken within each round: other work on the machine moves whole rounds up and down together.
  const byName = (name) => results.get(name);
  const ratio = (a, b, field) => median(byName(a).map((r, i) => r[field] / byName(b)[i][field]));
  const m = machine();
  const rows = targets.map((t) => {
    const runs = byName(t.name);
    const pick = (f, digits) =>
      spread(
        runs.map((r) => r[f]),
        digits,
      );
    const vs = t.name === pluginName ? "—" : `${ratio(t.name, pluginName, "rps").toFixed(2)}×`;
    const vsCore = t.name === pluginName ? "—" : `${ratio(t.name, pluginName, "rpsPerCore").toFixed(2)}×`;
    const failures = runs.reduce((a, r) => a + r.failures, 0);
    return `| ${t.name} | ${pick("rps", 0)} | ${pick("rpsPerCore", 0)} | ${pick("p50", 2)} | ${pick("p99", 2)} | ${pick("cpuPerCall", 1)} | ${pick("serverCores", 2)} | ${failures} | ${vs} | ${vsCore} |`;
  });
  const p99 = (name) => median(byName(name).map((r) => r.p99));
  const lines = [
    "# ext-auth: OPA (RBAC policy), Gantry with workers vs the OPA-Envoy plugin, all cores each",
    "",
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB memory, Node ${m.node}.`,
    `Load average (1 min) ${loadBefore.toFixed(1)} before the run and ${loadavg()[0].toFixed(1)} after: other work shared the machine, so read the ratios within a round.`,
    quick ? "\n**--quick run: checks the harness; these numbers are not results.**\n" : "",
    `Load: unary Check from bench/loadgen (pre-encoded requests on raw HTTP/2 frames, Go) in a separate process, ${load.connections} connections × ${load.streamsPerConnection} streams in flight,`,
    `${load.warmupMs / 1000} s warm-up then ${load.durationMs / 1000} s measured, ${rounds} rounds alternating the servers (a fresh process each).`,
    "Requests: four Envoy-like CheckRequests (9 headers, socket addresses, time), two allowed and two denied by the policy",
    "(`bench/extauth/opa-rbac.rego`: users → roles → method/resource grants, using `parsed_path`). Decisions are checked before each run.",
    "Settings: Gantry `gantry extauth --workers N --config` with an `opaAuth` config on the policy built with `opa build -t wasm`;",
    "the OPA-Envoy plugin (`.cache/bin/opa-envoy-plugin`, built from ../shared/peers/opa-envoy-plugin) with `plugins.envoy_ext_authz_grpc`",
    "on the same .rego, decision logs off, Go on every core.",
    "",
    "Each figure is the median over the rounds (lowest–highest in brackets). `per server core` = req/s ÷ the cores the server used",
    "(CPU seconds of all its processes ÷ wall seconds of the load run, warm-up included); `server CPU µs/call` = those cores ÷ req/s.",
    "Ratios to the plugin are medians of the ratios within each round. The load generator shares the same cores.",
    "",
    "| server | req/s | per server core | p50 ms | p99 ms | server CPU µs/call | server cores | failed calls | vs plugin: total | per core |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    `Gantry (${workers} workers) / OPA-Envoy plugin: **${ratio(gantryName, pluginName, "rps").toFixed(2)}×** in total and **${ratio(gantryName, pluginName, "rpsPerCore").toFixed(2)}×** per server core (goal ≥ 3×),`,
    `p99 ${p99(gantryName).toFixed(2)} ms vs ${p99(pluginName).toFixed(2)} ms.`,
    "",
    `In process, one policy evaluation (input building + WebAssembly + decision) costs ${microseconds.toFixed(1)} µs on average over these requests.`,
    "",
    "Reproduce: `npm run build && node bench/extauth/opa.mjs` (`--baselines` adds the one-core reference points, `--workers N` another count).",
    "",
  ];
  const resultsFile = join(root, "bench", "results", quick ? "extauth-opa.quick.md" : "extauth-opa.md");
  writeFileSync(resultsFile, lines.join("\n"));
  console.log(`\n${lines.join("\n")}\nwritten to ${resultsFile}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
