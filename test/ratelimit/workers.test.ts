import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code, RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient } from "../../src/lib/index.js";
import { freePorts, haveRedis, startProcess, startRedis, waitFor } from "../support/index.js";

/**
 * `gantry ratelimit --workers N` as a user runs it: real processes, several client connections (the
 * cluster hands connections to the workers in turn, so calls land on every worker).
 */
const bin = fileURLToPath(new URL("../../bin/gantry.js", import.meta.url));
const workers = 3;

function configYaml(limit: number): string {
  return `domain: shop
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: ${limit}
`;
}

// Each test starts N+1 processes; on a loaded machine that alone takes many seconds.
describe("gantry ratelimit --workers", { timeout: 180_000 }, () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(extra: string[] = [], limit = 50) {
    const dir = mkdtempSync(join(tmpdir(), "gantry-rl-workers-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "shop.yaml"), configYaml(limit));
    const [grpcPort, metricsPort] = await freePorts(2);
    const proc = await startProcess({
      name: "gantry ratelimit --workers",
      command: process.execPath,
      args: [
        bin,
        "ratelimit",
        "--host",
        "127.0.0.1",
        "--grpc-port",
        String(grpcPort),
        "--metrics-port",
        String(metricsPort),
        "--config-dir",
        dir,
        "--workers",
        String(workers),
        ...extra,
      ],
      env: { ...process.env, GANTRY_LOG_LEVEL: "warn" },
      ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
      readyTimeoutMs: 60_000,
    });
    cleanups.push(() => proc.stop());
    // One connection each (no shared subchannel), so that they are spread over the workers.
    const clients = Array.from({ length: 2 * workers }, () => {
      const client = createClient(RateLimitService, `127.0.0.1:${grpcPort}`, {
        channelOptions: { "grpc.use_local_subchannel_pool": 1 },
      });
      cleanups.push(() => client.close());
      return client;
    });
    const ask = (client: (typeof clients)[number], user: string) =>
      client.shouldRateLimit({ domain: "shop", descriptors: [{ entries: [{ key: "user", value: user }] }] });
    const text = async (path: string) => (await fetch(`http://127.0.0.1:${metricsPort}${path}`)).text();
    return { dir, proc, clients, ask, text };
  }

  /** Sends `total` calls for `user`, spread over every connection at once; returns how many were OK. */
  async function admitted(s: Awaited<ReturnType<typeof start>>, user: string, total: number): Promise<number> {
    const answers = await Promise.all(
      Array.from({ length: total }, (_, i) => s.ask(s.clients[i % s.clients.length] as (typeof s.clients)[0], user)),
    );
    return answers.filter((a) => a.overallCode === Code.OK).length;
  }

  it("counts exactly with in-memory counters: every worker's calls count on one counter", async () => {
    const s = await start();
    expect(await admitted(s, "alice", 200)).toBe(50);
    // Served by several workers: the metrics port adds up their connections.
    const metrics = await s.text("/metrics");
    expect(metrics).toContain(`gantry_workers{service="ratelimit"} ${workers}`);
    expect(metrics).toMatch(/gantry_ratelimit_rule_over_limit\{rule="shop\.user",service="ratelimit"\} 150\b/);
    expect(metrics).toContain('gantry_ratelimit_config_loads_total{result="success",service="ratelimit"} 1');
  });

  it.skipIf(!haveRedis())(
    "never over-admits with Redis, coalescing and the over-limit cache in every worker",
    async () => {
      const redis = await startRedis();
      cleanups.push(() => redis.close());
      // A generous Redis deadline: the test machine may be loaded, and a timeout is not what this checks.
      const s = await start(["--redis-url", redis.url, "--redis-timeout-ms", "2000"]);
      expect(await admitted(s, "bob", 300)).toBe(50);
      // Known over the limit now in every worker's cache, or counted again in Redis: never admitted.
      expect(await admitted(s, "bob", 100)).toBe(0);
    },
  );

  it("installs a reload in every worker at once, and a refused one in none", async () => {
    const s = await start([], 1_000_000);
    const limitSeen = async (client: (typeof s.clients)[0]) =>
      (await s.ask(client, "carol")).statuses[0]?.currentLimit?.requestsPerUnit;
    const versions = async () => [...(await s.text("/readyz")).matchAll(/config: (\S+)/g)].map((m) => m[1]);
    const before = await versions();
    expect(before).toHaveLength(workers);
    expect(new Set(before).size).toBe(1);

    // Calls keep going on every connection during the reload: each sees the old limit, then the new
    // one, never the old one again after the new.
    const seen: number[][] = s.clients.map(() => []);
    let running = true;
    const loops = s.clients.map(async (client, i) => {
      while (running) seen[i]?.push((await limitSeen(client)) ?? -1);
    });
    writeFileSync(join(s.dir, "shop.yaml"), configYaml(2_000_000));
    await waitFor(
      async () => {
        const now = await versions();
        return now.length === workers && now.every((v) => v !== before[0]) && new Set(now).size === 1;
      },
      { timeoutMs: 20_000, what: "every worker on the new version" },
    );
    // Once the reload is reported everywhere, every connection sees it.
    for (const client of s.clients) expect(await limitSeen(client)).toBe(2_000_000);
    running = false;
    await Promise.all(loops);
    for (const sequence of seen) {
      const firstNew = sequence.indexOf(2_000_000);
      const afterNew = firstNew < 0 ? [] : sequence.slice(firstNew);
      expect(afterNew.every((limit) => limit === 2_000_000)).toBe(true);
      expect(sequence.every((limit) => limit === 1_000_000 || limit === 2_000_000)).toBe(true);
    }

    // A bad file is refused by the primary: no worker changes.
    const good = await versions();
    writeFileSync(
      join(s.dir, "shop.yaml"),
      "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: fortnight}\n",
    );
    await waitFor(
      async () => (await s.text("/metrics")).includes('config_loads_total{result="error",service="ratelimit"} 1'),
      {
        timeoutMs: 20_000,
        what: "the bad config to be refused",
      },
    );
    expect(await versions()).toEqual(good);
    for (const client of s.clients) expect(await limitSeen(client)).toBe(2_000_000);
  });

  it("replaces a worker killed with SIGKILL, counts it, and keeps the counts of the primary", async () => {
    const s = await start();
    expect(await admitted(s, "dave", 30)).toBe(30);
    const pids = async () => [...(await s.text("/readyz")).matchAll(/\(pid (\d+)\): ok/g)].map((m) => Number(m[1]));
    const [victim] = await pids();
    expect(victim).toBeGreaterThan(0);
    process.kill(victim as number, "SIGKILL");
    await waitFor(
      async () => {
        // A primary that went away would only show as "fetch failed": say so, with what it printed.
        if (s.proc.exited) throw new Error(`the primary exited; its output:\n${s.proc.output()}`);
        const now = await pids();
        return now.length === workers && !now.includes(victim as number);
      },
      { timeoutMs: 30_000, what: "a replacement worker" },
    );
    expect(await s.text("/metrics")).toContain('gantry_worker_restarts_total{service="ratelimit"} 1');
    // The counters are in the primary: the 20 calls left of the limit, and no more.
    expect(await admitted(s, "dave", 60)).toBe(20);
  });
});
