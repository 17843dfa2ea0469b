import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnrollError, enroll } from "../../src/agent/enroll.js";
import { type AgentCredentials, relayChannelOptions } from "../../src/cluster/index.js";
import { RegistrationService } from "../../src/gen/gantry/relay/v1/registration_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { runGantry } from "../support/cli.js";
import { freePorts, isListening } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";

// Two `gantry server` replicas on one redis-server, each with a relay port: clusters are registered
// with the CLI through one replica and agents enroll at either; a token is good exactly once.

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const gantry = (...args: string[]) => runGantry(args, { timeoutMs: 100_000 });

interface Replica {
  process: ManagedProcess;
  api: string;
  relay: string;
  metrics: number;
}

describe.skipIf(!haveRedis())("gantry cluster, two server replicas on one Redis", () => {
  let redis: RedisServer;
  const replicas: Replica[] = [];
  const dir = mkdtempSync(join(tmpdir(), "gantry-cluster-cli-"));
  const tokenFile = join(dir, "api-token");
  writeFileSync(tokenFile, "cluster-cli-test-token-0123456789abcdef\n");
  const api = (replica: Replica) => ["--server", replica.api, "--token-file", tokenFile];

  const startReplica = async (name: string): Promise<Replica> => {
    const [xds, apiPort, relay, metrics] = await freePorts(4);
    const process = await startProcess({
      name,
      command: globalThis.process.execPath,
      args: [
        ...[bin, "server", "--host", "127.0.0.1", "--server-name", name, "--redis-url", redis.url],
        ...["--xds-port", String(xds), "--api-port", String(apiPort), "--metrics-port", String(metrics)],
        ...["--relay-port", String(relay), "--api-token-file", tokenFile, "--log-level", "warn"],
      ],
      ready: () => isListening(apiPort),
      readyTimeoutMs: 60_000,
    });
    return { process, api: `http://127.0.0.1:${apiPort}`, relay: `127.0.0.1:${relay}`, metrics };
  };

  beforeAll(async () => {
    redis = await startRedis();
    replicas.push(await startReplica("replica-a"), await startReplica("replica-b"));
  }, 120_000);

  afterAll(async () => {
    for (const r of replicas) await r.process.stop();
    await redis?.close();
  });

  const failures = async (replica: Replica, reason: string) => {
    const text = await (await fetch(`http://127.0.0.1:${replica.metrics}/metrics`)).text();
    const line = text
      .split("\n")
      .find((l) => l.startsWith("gantry_relay_auth_failures_total{") && l.includes(`reason="${reason}"`));
    return Number(line?.split(" ")[1] ?? 0);
  };

  const rotate = (agent: AgentCredentials, relay: string) => {
    const client = createClient(RegistrationService, relay, {
      credentials: agent.channelCredentials(),
      channelOptions: { ...relayChannelOptions, "grpc.use_local_subchannel_pool": 1 },
    });
    return client
      .rotate({ cluster: agent.cluster, csrPem: "not a request" }, { timeoutMs: 10_000 })
      .finally(() => client.close());
  };

  it("registers, enrolls once across replicas, lists, describes and revokes", { timeout: 300_000 }, async () => {
    const [a, b] = replicas as [Replica, Replica];
    const added = await gantry("cluster", "add", "east", ...api(a));
    expect(added.stderr).toMatch(/cluster east registered; the token is single-use and expires at /);
    expect(added.code).toBe(0);
    const token = added.stdout.trim();
    expect(token).toMatch(/^gantry1\.east\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\.[0-9a-f]{64}$/);
    const agentToken = join(dir, "east-token");
    writeFileSync(agentToken, added.stdout);

    const again = await gantry("cluster", "add", "east", ...api(b));
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("cluster east exists: remove it first");

    // The same token at both replicas at once: one enrollment, one refusal.
    const outcomes = await Promise.allSettled(
      [a, b].map((r, i) =>
        enroll({ relay: r.relay, tokenFile: agentToken, dataDir: join(dir, `agent-${i}`), cluster: "east" }),
      ),
    );
    const enrolled = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.filter((o) => o.status === "rejected");
    expect(enrolled).toHaveLength(1);
    expect(refused).toHaveLength(1);
    const reason = (refused[0] as PromiseRejectedResult).reason as EnrollError;
    expect(reason).toBeInstanceOf(EnrollError);
    expect(reason.reason).toBe("token_used");
    expect((await failures(a, "token_used")) + (await failures(b, "token_used"))).toBe(1);
    const agent = (enrolled[0] as PromiseFulfilledResult<AgentCredentials>).value;

    const listed = await gantry("get", "clusters", ...api(b));
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+STATE\s+CONNECTED/);
    expect(listed.stdout).toMatch(/\neast\s+registered\s+no\s/);
    const described = await gantry("describe", "cluster", "east", "-o", "json", ...api(a));
    const json = JSON.parse(described.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({
      name: "east",
      state: "registered",
      identity: "spiffe://gantry.local/cluster/east",
      certificateSerial: agent.certificate.serial,
      certificateExpires: new Date(agent.certificate.notAfterMs).toISOString(),
      connected: false,
    });

    // The certificate is good at either replica (a bad CSR proves it passed the identity check) ...
    await expect(rotate(agent, b.relay)).rejects.toMatchObject({ details: expect.stringMatching(/^csr_invalid: /) });
    // ... until the cluster is removed through the other one.
    const removed = await gantry("cluster", "remove", "east", ...api(a));
    expect(removed.stdout).toBe("cluster east removed\n");
    await expect(rotate(agent, b.relay)).rejects.toMatchObject({
      details: expect.stringMatching(/^cluster_revoked: cluster east was removed at /),
    });
    expect(await failures(b, "cluster_revoked")).toBe(1);
    const after = await gantry("get", "clusters", "east", "-o", "json", ...api(b));
    expect(JSON.parse(after.stdout)).toMatchObject({ name: "east", state: "revoked" });

    const unknown = await gantry("cluster", "remove", "nowhere", ...api(a));
    expect(unknown.stderr).toContain("cluster nowhere is not registered");
    const bad = await gantry("cluster", "add", "Not_A_Label", ...api(a));
    expect(bad.stderr).toContain('name "Not_A_Label": must be a DNS label');
  });
});
