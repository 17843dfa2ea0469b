// Relay fan-out: one `gantry server` process with a relay port; this process simulates N agents (the
// real agent code from dist/, each with its own local xDS port) and P proxies per agent (xDS clients
// subscribed to listeners and routes). One route change applied through the management API → the time
// until every proxy of every agent has it (p50/p99; goal p99 ≤ 1 s); the server's and the agents'
// memory; relay bytes per change (the delta sent to each agent against the full output).
//
//   node bench/relay/run.mjs [--agents 50] [--proxies 20] [--changes 10] [--quick]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, untilHealthy } from "../common.mjs";

const dist = new URL("../../dist/", import.meta.url);
const { startAgent, enroll } = await import(new URL("agent/index.js", dist).href);
const { relayChannelOptions } = await import(new URL("cluster/index.js", dist).href);
const { XdsClient } = await import(new URL("xds/index.js", dist).href);
const { createLogger } = await import(new URL("lib/logger.js", dist).href);
const { createRegistry } = await import(new URL("lib/metrics.js", dist).href);
const { RouteConfigurationSchema } = await import(new URL("gen/envoy/config/route/v3/route_pb.js", dist).href);

const { values: flags } = parseArgs({
  options: {
    agents: { type: "string", default: "50" },
    proxies: { type: "string", default: "20" },
    changes: { type: "string", default: "10" },
    quick: { type: "boolean", default: false },
  },
});
const agents = flags.quick ? 3 : Number(flags.agents);
const proxiesPerAgent = flags.quick ? 2 : Number(flags.proxies);
const changes = flags.quick ? 2 : Number(flags.changes);
const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const logger = createLogger({ service: "bench", level: "error" });

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const rssMiB = (pid) => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
};
async function metric(port, name, label = "") {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

const doc = (kind, name, spec) => ({ apiVersion: "gantry/v1", kind, metadata: { name, namespace: "bench" }, spec });
/** A gateway for every cluster's proxies, 20 hosts, and the one route that changes (its prefix names the change). */
const world = (change) => [
  doc("Gateway", "bench", { kind: "GRPC_PROXYLESS", proxies: { labels: { app: "bench" } } }),
  doc("Destination", "backend", {
    ports: [{ number: 50051, protocol: "GRPC" }],
    endpoints: [{ address: "127.0.0.1", port: 1 }],
  }),
  ...Array.from({ length: 20 }, (_, t) =>
    doc("RouteTable", `t${t}`, {
      hosts: [`t${t}.bench`],
      gateways: [{ name: "bench" }],
      http: [
        {
          name: "all",
          matchers: [{ prefix: t === 0 ? `/change${change}/` : "/" }],
          forwardTo: { destinations: [{ destination: { name: "backend" } }] },
        },
      ],
    }),
  ),
];

/** `gantry cluster add NAME` through the API: the agent's single-use registration token. */
async function addCluster(apiPort, name) {
  const response = await fetch(`http://127.0.0.1:${apiPort}/gantry.api.v1.ManagementService/AddCluster`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (!response.ok) throw new Error(`cluster add ${name}: ${response.status} ${await response.text()}`);
  return (await response.json()).token;
}

async function apply(apiPort, documents) {
  const response = await fetch(`http://127.0.0.1:${apiPort}/gantry.api.v1.ManagementService/Apply`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ documents }),
  });
  if (!response.ok) throw new Error(`apply: ${response.status} ${await response.text()}`);
}

const root = mkdtempSync(join(tmpdir(), "gantry-bench-relay-"));
const [xdsPort, apiPort, metricsPort, relayPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
const server = spawn(
  process.execPath,
  [
    ...[bin, "server", "--host", "127.0.0.1", "--insecure-api", "--log-level", "warn"],
    ...["--xds-port", xdsPort, "--api-port", apiPort, "--metrics-port", metricsPort, "--relay-port", relayPort].map(
      String,
    ),
  ],
  { stdio: ["ignore", "inherit", "inherit"] },
);
const started = [];
const clients = [];
try {
  await untilHealthy(metricsPort);
  await apply(apiPort, world(0));
  const memoryBefore = process.memoryUsage().rss / 2 ** 20;
  for (let a = 0; a < agents; a++) {
    // Each agent registers as a real one does: a token from `cluster add`, a CSR, then mTLS.
    const dataDir = join(root, `c${a}`);
    const tokenFile = join(root, `c${a}.token`);
    writeFileSync(tokenFile, await addCluster(apiPort, `c${a}`), { mode: 0o600 });
    const credentials = await enroll({ relay: `127.0.0.1:${relayPort}`, tokenFile, dataDir, cluster: `c${a}` });
    started.push(
      await startAgent({
        credentials: credentials.channelCredentials(),
        channelOptions: relayChannelOptions,
        cluster: `c${a}`,
        relay: [`127.0.0.1:${relayPort}`],
        dataDir,
        host: "127.0.0.1",
        xdsPort: 0,
        agentVersion: "bench",
        logger,
        registry: createRegistry("agent", { processMetrics: false }),
      }),
    );
  }
  // Every proxy's current prefix on t0's route, and when it changed.
  const seen = new Map();
  for (const [a, agent] of started.entries()) {
    for (let p = 0; p < proxiesPerAgent; p++) {
      const id = `c${a}-p${p}`;
      const client = new XdsClient({
        server: `127.0.0.1:${agent.xdsPort}`,
        node: { id, metadata: { role: "grpc", labels: { app: "bench" } } },
        logger,
      });
      client.subscribe(RouteConfigurationSchema, {
        onUpdate: (routes) => {
          for (const route of routes.values()) {
            const prefix = route.virtualHosts
              .flatMap((v) => v.routes)
              .find((r) => r.match?.pathSpecifier.case === "prefix")?.match?.pathSpecifier.value;
            if (typeof prefix === "string" && prefix.startsWith("/change"))
              seen.set(id, { prefix, at: performance.now() });
          }
        },
      });
      client.start();
      clients.push(client);
    }
  }
  const total = agents * proxiesPerAgent;
  const until = async (condition, what, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await until(
    () => [...seen.values()].filter((s) => s.prefix === "/change0/").length === total,
    "every proxy's first config",
  );
  const fullBytes = await metric(metricsPort, "gantry_relay_output_bytes_total", 'kind="full"');
  const fullOutputs = await metric(metricsPort, "gantry_relay_outputs_total", 'kind="full"');
  const latencies = [];
  const agentLatencies = [];
  let deltaBytes = 0;
  let deltaOutputs = 0;
  for (let change = 1; change <= changes; change++) {
    const beforeBytes = await metric(metricsPort, "gantry_relay_output_bytes_total", 'kind="delta"');
    const beforeOutputs = await metric(metricsPort, "gantry_relay_outputs_total", 'kind="delta"');
    const versions = started.map((a) => a.outputVersion);
    const agentAt = new Map();
    const watchAgents = setInterval(() => {
      for (const [i, a] of started.entries()) {
        if (!agentAt.has(i) && a.outputVersion !== versions[i]) agentAt.set(i, performance.now());
      }
    }, 2);
    const t0 = performance.now();
    await apply(apiPort, world(change));
    await until(() => agentAt.size === agents, `change ${change} in every agent`);
    clearInterval(watchAgents);
    for (const at of agentAt.values()) agentLatencies.push(at - t0);
    await until(
      () => [...seen.values()].filter((s) => s.prefix === `/change${change}/`).length === total,
      `change ${change} everywhere`,
    );
    for (const s of seen.values()) latencies.push(s.at - t0);
    deltaBytes += (await metric(metricsPort, "gantry_relay_output_bytes_total", 'kind="delta"')) - beforeBytes;
    deltaOutputs += (await metric(metricsPort, "gantry_relay_outputs_total", 'kind="delta"')) - beforeOutputs;
  }
  latencies.sort((a, b) => a - b);
  agentLatencies.sort((a, b) => a - b);
  const serverMiB = rssMiB(server.pid);
  const benchMiB = process.memoryUsage().rss / 2 ** 20;
  const [load1] = loadavg();
  const lines = [
    "# Relay fan-out: one change → applied in every proxy of every agent",
    "",
    `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load average ${load1.toFixed(2)} at the end`,
    `(a machine shared with other engineers' work: read the ratios, re-run on a quiet machine with \`node bench/relay/run.mjs\`).`,
    "",
    `${agents} agents (real agent code, one process) × ${proxiesPerAgent} proxies (xDS clients) = ${total} proxies; ${changes} changes,`,
    "each one route's prefix applied through the management API; the time from before the Apply to each proxy's",
    "RouteConfiguration update (server debounce, translation, relay delta, agent publish, xDS push).",
    "This process hosts every agent and every simulated proxy on one event loop, so on a loaded machine it, more",
    "than the relay, sets the tail: the agent rows (output applied in the agent) separate the two.",
    "",
    "| measure | value | goal |",
    "|---|---|---|",
    `| change → output applied in every agent, p50 | ${percentile(agentLatencies, 50).toFixed(0)} ms | |`,
    `| change → output applied in every agent, p99 | ${percentile(agentLatencies, 99).toFixed(0)} ms | |`,
    `| change → applied in every proxy, p50 | ${percentile(latencies, 50).toFixed(0)} ms | |`,
    `| change → applied in every proxy, p99 | ${percentile(latencies, 99).toFixed(0)} ms | ≤ 1,000 ms |`,
    `| change → applied in every proxy, max | ${latencies.at(-1).toFixed(0)} ms | |`,
    `| server RSS | ${serverMiB.toFixed(0)} MiB | |`,
    `| agents + simulated proxies RSS (this process), per agent | ${((benchMiB - memoryBefore) / agents).toFixed(1)} MiB (${benchMiB.toFixed(0)} MiB in all) | |`,
    `| relay bytes per agent, full output | ${(fullBytes / Math.max(1, fullOutputs)).toFixed(0)} B | |`,
    `| relay bytes per agent per change, delta | ${(deltaBytes / Math.max(1, deltaOutputs)).toFixed(0)} B | |`,
    "",
  ];
  const out = new URL(`../results/relay${flags.quick ? ".quick" : ""}.md`, import.meta.url);
  writeFileSync(out, lines.join("\n"));
  console.log(lines.join("\n"));
} finally {
  for (const c of clients) await c.stop();
  for (const a of started) await a.stop();
  server.kill("SIGTERM");
  rmSync(root, { recursive: true, force: true });
}
