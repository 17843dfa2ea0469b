// Workload trust: how fast an agent issues workload certificates, and how long a workload waits for
// its first one.
//   1. issuance: the agent's issuer (dist/), its intermediate signed by a root as over the relay; each
//      certificate is a token checked, a new ECDSA P-256 key, a signature. Sequential, and 8 at once.
//   2. time to first certificate: a real `gantry server` (root CA, --relay-port) and a real `gantry
//      agent` enrolled to it; N "workloads" each open an ADS stream to the agent with a fresh workload
//      token and ask for `default` and `ROOTCA`: the time from opening the stream to the secrets.
//
//   npx tsc -p tsconfig.build.json && node bench/trust/run.mjs [--seconds 5] [--workloads 50] [--quick]
// Writes bench/results/trust.md (with the machine's load average: re-run it on a quiet machine).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { freePort, untilHealthy } from "../common.mjs";

const dist = new URL("../../dist/", import.meta.url);
const trust = await import(new URL("trust/index.js", dist).href);
const ca = await import(new URL("trust/ca.js", dist).href);
const { MemoryClusterStore } = await import(new URL("cluster/index.js", dist).href);
const { exportPkcs8, loadRelayCa } = await import(new URL("cluster/pki.js", dist).href);
const { createClient } = await import(new URL("lib/grpc.js", dist).href);
const { AggregatedDiscoveryService } = await import(new URL("gen/envoy/service/discovery/v3/ads_pb.js", dist).href);

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    workloads: { type: "string", default: "50" },
    quick: { type: "boolean", default: false },
  },
});
const seconds = flags.quick ? 1 : Number(flags.seconds);
const workloads = flags.quick ? 5 : Number(flags.workloads);
const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" / ");
const loadBefore = load();

// 1. Issuance rate, in this process.
const authority = await trust.TrustAuthority.open({ store: new MemoryClusterStore(), trustDomain: "gantry.local" });
const { keys, csrPem } = await ca.intermediateRequest("bench");
const answer = await authority.signIntermediate("bench", csrPem);
const signer = await loadRelayCa(
  { certPem: answer.certPem, keyPem: await exportPkcs8(keys.privateKey) },
  { cert: "c", key: "k" },
);
const state = {
  signer,
  chainPem: answer.certPem,
  bundlePem: answer.bundle.rootsPem.join(""),
  trustDomain: "gantry.local",
  notBeforeMs: signer.certificate.notBefore.getTime(),
  notAfterMs: signer.certificate.notAfter.getTime(),
};
const tokenKey = Buffer.alloc(32, 5);
const attestor = new trust.GantryTokenAttestor({ key: tokenKey, cluster: "bench" });
const issuer = new trust.WorkloadIssuer({ ca: { current: state, onChange: () => () => {} }, attestor });
const token = trust.mintWorkloadToken(tokenKey, {
  cluster: "bench",
  namespace: "shop",
  serviceAccount: "cart",
  ttlMs: 3600_000,
});
async function issueOne() {
  await issuer.issue(await issuer.attest(token));
}
async function rate(concurrency) {
  for (let i = 0; i < 20; i++) await issueOne(); // warm-up
  let issued = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await issueOne();
        issued += 1;
      }
    }),
  );
  return issued / ((performance.now() - started) / 1000);
}
const sequential = await rate(1);
const parallel = await rate(8);
console.log(`issuance: ${sequential.toFixed(0)}/s sequential, ${parallel.toFixed(0)}/s with 8 at once`);

// 2. Time to first certificate, with real processes.
const dir = mkdtempSync(join(tmpdir(), "gantry-bench-trust-"));
const children = [];
function start(args) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return child;
}
async function run(args) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  const code = await new Promise((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`gantry ${args.join(" ")} exited ${code}`);
  return out.trim();
}
const latencies = [];
try {
  const [relayPort, apiPort, metricsPort, xdsPort, agentXds, agentMetrics] = await Promise.all(
    Array.from({ length: 6 }, () => freePort()),
  );
  start([
    ...[
      "server",
      "--host",
      "127.0.0.1",
      "--insecure-api",
      "--relay-port",
      String(relayPort),
      "--api-port",
      String(apiPort),
    ],
    ...["--metrics-port", String(metricsPort), "--xds-port", String(xdsPort), "--log-level", "error"],
  ]);
  await untilHealthy(metricsPort);
  const registration = await run(["cluster", "add", "bench", "--server", `http://127.0.0.1:${apiPort}`]);
  writeFileSync(join(dir, "token"), registration);
  start([
    ...[
      "agent",
      "--cluster",
      "bench",
      "--host",
      "127.0.0.1",
      "--relay",
      `127.0.0.1:${relayPort}`,
      "--data-dir",
      join(dir, "data"),
    ],
    ...[
      "--token-file",
      join(dir, "token"),
      "--xds-port",
      String(agentXds),
      "--metrics-port",
      String(agentMetrics),
      "--log-level",
      "error",
    ],
  ]);
  await untilHealthy(agentMetrics);
  // Tokens made here with the agent's token key (what `gantry workload token` does), so that
  // starting a CLI process per workload is not what is measured.
  const agentTokenKey = trust.loadTokenKey(join(dir, "data"), undefined, "--key-encryption-key-file");
  for (let i = 0; i < workloads; i++) {
    const workloadToken = trust.mintWorkloadToken(agentTokenKey, {
      cluster: "bench",
      namespace: "shop",
      serviceAccount: `w${i}`,
      ttlMs: 3600_000,
    });
    const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${agentXds}`);
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${workloadToken}`);
    const started = performance.now();
    const call = client.streamAggregatedResources({ metadata });
    const first = new Promise((resolve, reject) => {
      call.on("data", (response) => (response.resources.length === 2 ? resolve() : undefined));
      call.on("error", reject);
      setTimeout(() => reject(new Error("no secrets within 10 s")), 10_000).unref();
    });
    call.write({
      node: { id: `w${i}`, metadata: { role: "sidecar" } },
      typeUrl: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
      resourceNames: ["default", "ROOTCA"],
    });
    await first;
    latencies.push(performance.now() - started);
    call.cancel();
    client.close();
  }
} finally {
  for (const child of children) child.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
latencies.sort((a, b) => a - b);
const p50 = percentile(latencies, 50);
const p99 = percentile(latencies, 99);
console.log(
  `first certificate by SDS: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms over ${latencies.length} workloads`,
);

const results = `# Workload trust: issuance rate and time to first certificate

\`node bench/trust/run.mjs${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}\` on ${new Date().toISOString().slice(0, 10)},
${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}; load average (1/5/15 min) ${loadBefore} before, ${load()} after.
The machine is shared with other engineers' builds and tests: re-run the command on a quiet machine.

| measure | result |
|---|---|
| certificates issued per second by an agent's issuer, one at a time (token checked, new P-256 key, signature) | ${sequential.toFixed(0)} |
| the same, 8 at once | ${parallel.toFixed(0)} |
| time from a workload's ADS stream opening (with its token) to its SDS secrets \`default\` + \`ROOTCA\`, p50 | ${p50.toFixed(1)} ms |
| the same, p99 (${latencies.length} workloads, one after another, real \`gantry server\` + \`gantry agent\`) | ${p99.toFixed(1)} ms |

Issuance runs in one process from \`dist/\` (the agent's \`WorkloadIssuer\`); the time to first
certificate includes attesting the token, making the key and certificate, and the SDS push.
Proxyless gRPC workloads get files instead: the agent reads its tokens folder every 2 s, so their first
certificate comes within that scan interval plus the issuance time above.
`;
writeFileSync(new URL("../results/trust.md", import.meta.url), results);
console.log("wrote bench/results/trust.md");
