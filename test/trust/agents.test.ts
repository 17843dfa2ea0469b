// The trust chain end to end, in real processes on loopback: one `gantry server` (the root CA, its
// key sealed) and two `gantry agent`s (east, west) that get their intermediates over the relay; a
// raw ADS client plays a proxy presenting its workload token; the agents write files for proxyless
// gRPC; node:tls checks that workloads of the two clusters handshake. Short lifetimes (workload
// certificates of 20 s, bundle asked for every second) make rotations happen within the test.
import { X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import { type Secret, SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import type { DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { runGantry } from "../support/cli.js";
import { freePort, freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { waitFor } from "../support/wait.js";
import { ResponseQueue } from "../xds/harness.js";
import { blocks, chainsTo, handshake } from "./tls.js";

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
/** A CLI run starts a Node process: seconds on a loaded machine. */
const gantry = (args: readonly string[]) => runGantry(args, { timeoutMs: 60_000 });
/** Each step runs CLI commands and may wait for a rotation. */
const stepTimeoutMs = 180_000;
const clusters = ["east", "west"] as const;
type Cluster = (typeof clusters)[number];

async function metric(port: number, name: string, label = ""): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

interface Agent {
  readonly xdsPort: number;
  readonly metricsPort: number;
  readonly dataDir: string;
  readonly tokensDir: string;
  readonly certsDir: string;
  readonly process: ManagedProcess;
}

/** A proxy's ADS stream asking for the workload secrets, with its token (or none) in the initial metadata. */
function sdsStream(agent: Agent, nodeId: string, token?: string) {
  const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${agent.xdsPort}`);
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
  const call = client.streamAggregatedResources({ metadata });
  const responses = new ResponseQueue<DiscoveryResponse>(call);
  /** What each response held, for failure messages. */
  const seen: string[] = [];
  const held = new Map<string, Secret>();
  const request = (nonce = "", version = "") =>
    call.write({
      node: { id: nodeId, metadata: { role: "sidecar" } },
      typeUrl: TypeUrl.secret,
      resourceNames: ["default", "ROOTCA"],
      responseNonce: nonce,
      versionInfo: version,
    });
  request();
  /**
   * After the next response that has secrets, every secret the client holds, by name (with `any`: the
   * next response's own, even none). Each response is ACKed.
   */
  const next = async (timeoutMs = 15_000, any = false): Promise<Map<string, Secret>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await responses.next(Math.max(1, deadline - Date.now()));
      request(response.nonce, response.versionInfo);
      const secrets = response.resources.map((r) => fromBinary(SecretSchema, r.value));
      seen.push(
        `${response.versionInfo}: ${secrets.map((x) => `${x.name}(${blocks(pemOf(x, x.name === "ROOTCA" ? "roots" : "chain")).length})`).join(" ")}`,
      );
      // SotW responses of SDS may be partial (only what changed): the client holds the latest of each.
      for (const secret of secrets) held.set(secret.name, secret);
      if (any) return new Map(secrets.map((x) => [x.name, x]));
      if (secrets.length > 0) return new Map(held);
    }
  };
  return {
    next,
    responses,
    seen,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

function pemOf(secret: Secret | undefined, which: "chain" | "key" | "roots"): string {
  if (secret?.type.case === "tlsCertificate") {
    const source = which === "key" ? secret.type.value.privateKey : secret.type.value.certificateChain;
    return source?.specifier.case === "inlineString" ? source.specifier.value : "";
  }
  if (secret?.type.case === "validationContext") {
    const source = secret.type.value.trustedCa;
    return source?.specifier.case === "inlineString" ? source.specifier.value : "";
  }
  return "";
}

describe("workload trust across two clusters (real server and agents)", { timeout: stepTimeoutMs }, () => {
  let root: string;
  let server: ManagedProcess | undefined;
  let apiUrl: string;
  const agents = new Map<Cluster, Agent>();
  const agentOf = (c: Cluster) => agents.get(c) as Agent;
  const kekFile = () => join(root, "kek");
  const token = async (
    cluster: Cluster,
    namespace: string,
    serviceAccount: string,
    dataDir = agentOf(cluster).dataDir,
  ) => {
    const minted = await gantry([
      ...["workload", "token", "--data-dir", dataDir, "--cluster", cluster],
      ...["--namespace", namespace, "--service-account", serviceAccount, "--key-encryption-key-file", kekFile()],
    ]);
    if (minted.code !== 0) throw new Error(`gantry workload token: ${minted.stderr}`);
    return minted.stdout.trim();
  };
  const bundle = async () => {
    const shown = await gantry(["ca", "show", "-o", "pem", "--server", apiUrl]);
    if (shown.code !== 0) throw new Error(`gantry ca show: ${shown.stderr}`);
    return shown.stdout;
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "gantry-trust-"));
    await writeFile(kekFile(), `${"ab".repeat(32)}\n`, { mode: 0o600 });
    const [relayPort, metricsPort, apiPort, serverXdsPort] = await freePorts(4);
    apiUrl = `http://127.0.0.1:${apiPort}`;
    server = await startProcess({
      name: "gantry server",
      command: process.execPath,
      args: [
        ...[bin, "server", "--host", "127.0.0.1", "--insecure-api", "--xds-port", String(serverXdsPort)],
        ...["--api-port", String(apiPort), "--metrics-port", String(metricsPort), "--relay-port", String(relayPort)],
        ...["--ca-key-encryption-key-file", kekFile(), "--log-level", "warn"],
      ],
      ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
      readyTimeoutMs: 60_000,
    });
    for (const cluster of clusters) {
      const added = await gantry(["cluster", "add", cluster, "--server", apiUrl]);
      if (added.code !== 0) throw new Error(`gantry cluster add ${cluster}: ${added.stderr}`);
      const dir = join(root, cluster);
      await mkdir(join(dir, "tokens"), { recursive: true });
      await writeFile(join(dir, "token"), added.stdout.trim(), { mode: 0o600 });
      const [xdsPort, agentMetrics] = await freePorts(2);
      const agent: Agent = {
        xdsPort,
        metricsPort: agentMetrics,
        dataDir: join(dir, "data"),
        tokensDir: join(dir, "tokens"),
        certsDir: join(dir, "certs"),
        process: await startProcess({
          name: `gantry agent ${cluster}`,
          command: process.execPath,
          args: [
            ...[bin, "agent", "--cluster", cluster, "--host", "127.0.0.1", "--relay", `127.0.0.1:${relayPort}`],
            ...[
              "--data-dir",
              join(dir, "data"),
              "--token-file",
              join(dir, "token"),
              "--key-encryption-key-file",
              kekFile(),
            ],
            ...["--xds-port", String(xdsPort), "--metrics-port", String(agentMetrics), "--log-level", "info"],
            ...["--workload-cert-ttl-seconds", "20", "--trust-bundle-refresh-seconds", "1"],
            ...["--workload-tokens-dir", join(dir, "tokens"), "--workload-certs-dir", join(dir, "certs")],
          ],
          ready: async () => (await fetch(`http://127.0.0.1:${agentMetrics}/readyz`)).ok,
          readyTimeoutMs: 60_000,
        }),
      };
      agents.set(cluster, agent);
    }
  }, 180_000);

  afterAll(async () => {
    for (const agent of agents.values()) await agent.process.stop();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it("each agent holds its cluster's intermediate, signed by the root over the relay and sealed in its data dir", async () => {
    const roots = await bundle();
    for (const cluster of clusters) {
      const file = join(agentOf(cluster).dataDir, "workload-ca.json");
      const text = await waitFor(() => readFile(file, "utf8"), {
        timeoutMs: 30_000,
        what: `${cluster}'s intermediate`,
      });
      const stored = JSON.parse(text) as {
        certPem: string;
        key: { alg: string };
      };
      expect(stored.key.alg).toBe("aes-256-gcm");
      expect(JSON.stringify(stored)).not.toContain("PRIVATE KEY");
      const intermediate = new X509Certificate(stored.certPem);
      expect(intermediate.subjectAltName).toBe(`URI:spiffe://gantry.local/cluster/${cluster}`);
      expect(chainsTo(stored.certPem, roots)).toBe(true);
    }
  });

  it("a proxy with its workload token gets `default` and `ROOTCA` by SDS, and a new `default` on rotation", async () => {
    const stream = sdsStream(agentOf("east"), "cart-1", await token("east", "shop", "cart"));
    try {
      const first = await stream.next();
      expect([...first.keys()].sort()).toEqual(["ROOTCA", "default"]);
      const chain = pemOf(first.get("default"), "chain");
      expect(new X509Certificate(blocks(chain)[0] as string).subjectAltName).toBe(
        "URI:spiffe://gantry.local/ns/shop/sa/cart",
      );
      expect(pemOf(first.get("default"), "key")).toContain("BEGIN PRIVATE KEY");
      expect(chainsTo(chain, pemOf(first.get("ROOTCA"), "roots"))).toBe(true);
      // Rotated at two thirds of 20 s.
      const second = await stream.next(40_000);
      expect(pemOf(second.get("default"), "chain")).not.toBe(chain);
      expect(pemOf(second.get("default"), "key")).not.toBe(pemOf(first.get("default"), "key"));
    } finally {
      stream.close();
    }
  });

  it("no secret without a valid token: none, forged, or minted for another cluster; each refusal is counted", async () => {
    const east = agentOf("east");
    const before = {
      missing: await metric(east.metricsPort, "gantry_workload_attestation_failures_total", 'reason="missing"'),
      invalid: await metric(east.metricsPort, "gantry_workload_attestation_failures_total", 'reason="invalid"'),
    };
    const good = await token("east", "shop", "cart");
    const parts = good.split(".");
    const forged = `${parts[0]}.${Buffer.from(JSON.stringify({ c: "east", ns: "shop", sa: "admin", iat: 1, exp: 4e9, jti: "x" })).toString("base64url")}.${parts[2]}`;
    const westToken = await token("west", "shop", "cart");
    // The stream without a token claims the node id of the good stream below: a node id proves nothing.
    const streams = [
      sdsStream(east, "cart-2"),
      sdsStream(east, "forged-1", forged),
      sdsStream(east, "west-1", westToken),
    ];
    try {
      await waitFor(
        async () =>
          (await metric(east.metricsPort, "gantry_workload_attestation_failures_total", 'reason="missing"')) >
            before.missing &&
          (await metric(east.metricsPort, "gantry_workload_attestation_failures_total", 'reason="invalid"')) >=
            before.invalid + 2,
        { timeoutMs: 10_000, what: "the three refusals to be counted" },
      );
      // A good stream opened after them gets its secrets: the refused ones would have had theirs by now.
      const control = sdsStream(east, "cart-2", good);
      streams.push(control);
      expect((await control.next()).has("default")).toBe(true);
      for (const refused of streams.slice(0, 3)) {
        while (refused.responses.buffered > 0) expect((await refused.next(1_000, true)).size).toBe(0);
      }
    } finally {
      for (const s of streams) s.close();
    }
  });

  it("writes and rotates the files of a proxyless gRPC workload; workloads of the two clusters handshake over mTLS", async () => {
    const west = agentOf("west");
    // Tokens first (each a CLI run): the certificates below are used fresh, well within their 20 s.
    const eastToken = await token("east", "shop", "cart");
    await writeFile(join(west.tokensDir, "frontend.token"), await token("west", "web", "frontend"));
    const file = (name: string) => readFile(join(west.certsDir, "web", "frontend", name), "utf8").catch(() => "");
    const chain = await waitFor(file.bind(null, "cert-chain.pem"), { timeoutMs: 30_000, what: "the files" });
    await waitFor(async () => (await file("cert-chain.pem")) !== chain, { timeoutMs: 40_000, what: "a rotation" });
    const client = { cert: await file("cert-chain.pem"), key: await file("key.pem"), ca: await file("root-cert.pem") };
    const stream = sdsStream(agentOf("east"), "cart-3", eastToken);
    try {
      const secrets = await stream.next();
      const server = {
        cert: pemOf(secrets.get("default"), "chain"),
        key: pemOf(secrets.get("default"), "key"),
        ca: pemOf(secrets.get("ROOTCA"), "roots"),
      };
      expect(await handshake(server, client, "spiffe://gantry.local/ns/shop/sa/cart")).toMatchObject({
        ok: true,
        serverSawClient: "spiffe://gantry.local/ns/web/sa/frontend",
      });
    } finally {
      stream.close();
    }
  });

  it("a root rotation: the bundle holds both roots, new certificates chain to the new root, old-bundle peers still handshake", async () => {
    const oldBundle = await bundle();
    const stream = sdsStream(agentOf("east"), "cart-4", await token("east", "shop", "cart"));
    try {
      await stream.next();
      const rotated = await gantry(["ca", "rotate", "--transition-seconds", "600", "--server", apiUrl]);
      expect(rotated.code, rotated.stderr).toBe(0);
      const newBundle = await bundle();
      expect(blocks(newBundle)).toHaveLength(2);
      const newRoot = blocks(newBundle)[1] as string;
      const secrets = await waitFor(
        async () => {
          const s = await stream.next();
          return blocks(pemOf(s.get("ROOTCA"), "roots")).length === 2 &&
            chainsTo(pemOf(s.get("default"), "chain"), newRoot)
            ? s
            : undefined;
        },
        { timeoutMs: 60_000, what: "a certificate from the new root and the two-root bundle" },
      ).catch((err: Error) => {
        const why = `responses: ${stream.seen.join("; ")}; stream error: ${stream.responses.error?.message ?? "none"}; new root ${newRoot.slice(30, 90)}`;
        throw new Error(`${err.message}\n${why}\nagent east:\n${agentOf("east").process.output()}`);
      });
      const server = {
        cert: pemOf(secrets.get("default"), "chain"),
        key: pemOf(secrets.get("default"), "key"),
        ca: newBundle,
      };
      const west = agentOf("west");
      const client = {
        cert: await readFile(join(west.certsDir, "web", "frontend", "cert-chain.pem"), "utf8"),
        key: await readFile(join(west.certsDir, "web", "frontend", "key.pem"), "utf8"),
        ca: oldBundle,
      };
      expect((await handshake(server, client)).ok).toBe(true);
    } finally {
      stream.close();
    }
  });
});

describe("bad trust flags stop the server before any port opens", { timeout: stepTimeoutMs }, () => {
  it("names the flag of a missing CA file, a CA file without its key, and a bad key-encryption key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gantry-trust-flags-"));
    try {
      const port = async () => String(await freePort());
      const base = [
        ...[
          "server",
          "--host",
          "127.0.0.1",
          "--insecure-api",
          "--relay-port",
          await port(),
          "--xds-port",
          await port(),
        ],
        ...["--api-port", await port(), "--metrics-port", await port()],
      ];
      const missing = await gantry([
        ...base,
        "--ca-cert-file",
        join(dir, "no.pem"),
        "--ca-key-file",
        join(dir, "no.key"),
      ]);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toMatch(/--ca-cert-file .*no\.pem: no such file/);
      const alone = await gantry([...base, "--ca-cert-file", join(dir, "no.pem")]);
      expect(alone.stderr).toMatch(/--ca-cert-file and --ca-key-file go together/);
      await writeFile(join(dir, "kek"), "short");
      const kek = await gantry([...base, "--ca-key-encryption-key-file", join(dir, "kek")]);
      expect(kek.code).not.toBe(0);
      expect(kek.stderr).toMatch(/--ca-key-encryption-key-file .*kek: expected a 32-byte key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
