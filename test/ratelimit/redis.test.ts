import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { ManualClock } from "../../src/lib/index.js";
import {
  findTool,
  freePort,
  haveRedis,
  type RedisServer,
  startProcess,
  startRedis,
  waitFor,
} from "../support/index.js";
import { type Harness, startHarness, yamlConfigs } from "./harness.js";

const run = promisify(execFile);

const configs = () =>
  yamlConfigs(`
domain: load
descriptors:
  - key: fixed
    rate_limit: { unit: minute, requests_per_unit: 100 }
  - key: sliding
    rate_limit: { unit: minute, requests_per_unit: 100, algorithm: sliding_window }
  - key: bucket
    rate_limit: { unit: minute, requests_per_unit: 100, algorithm: token_bucket }
`);

describe.skipIf(!haveRedis())("rate limiting on a real redis-server", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  // Two replicas share the Redis, as a scaled-out deployment does; time stands still so the window is one.
  for (const key of ["fixed", "sliding", "bucket"]) {
    it(`admits exactly 100 of 20 concurrent clients × 100 calls against 100/min (${key})`, async () => {
      const clock = new ManualClock(Date.UTC(2026, 0, 5, 12, 0, 0));
      const options = {
        clock,
        configs: configs(),
        redisUrl: redis.url,
        redisKeyPrefix: `${key}:`,
        redisTimeoutMs: 2_000,
      };
      const replicas = [await startHarness(options), await startHarness(options)];
      try {
        const clients = Array.from({ length: 20 }, (_, i) => replicas[i % 2] as Harness);
        const admitted = await Promise.all(
          clients.map(async (h) => {
            let ok = 0;
            for (let call = 0; call < 100; call++)
              if ((await h.call("load", [[[key, "shared"]]])).overallCode === Code.OK) ok++;
            return ok;
          }),
        );
        expect(admitted.reduce((a, b) => a + b, 0)).toBe(100);
      } finally {
        await Promise.all(replicas.map((h) => h.close()));
      }
    });
  }

  it("counts through Redis Sentinel", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "gantry-sentinel-"));
    const conf = join(dir, "sentinel.conf");
    writeFileSync(conf, `port ${port}\nbind 127.0.0.1\nsentinel monitor rl 127.0.0.1 ${redis.port} 1\n`);
    const sentinel = await startProcess({
      name: `redis sentinel :${port}`,
      command: findTool("redis-server") ?? "redis-server",
      args: [conf, "--sentinel"],
      ready: async () => {
        const { stdout } = await run(findTool("redis-cli") ?? "redis-cli", [
          "-p",
          String(port),
          "SENTINEL",
          "get-master-addr-by-name",
          "rl",
        ]);
        return stdout.includes(String(redis.port));
      },
    });
    const h = await startHarness({
      clock: new ManualClock(Date.UTC(2026, 0, 5, 12, 0, 0)),
      configs: configs(),
      redisUrl: `redis+sentinel://127.0.0.1:${port}/rl`,
      redisKeyPrefix: "sentinel:",
      redisTimeoutMs: 2_000,
    });
    try {
      const remaining: number[] = [];
      for (let i = 0; i < 3; i++)
        remaining.push((await h.call("load", [[["fixed", "s"]]])).statuses[0]?.limitRemaining ?? -1);
      expect(remaining).toEqual([99, 98, 97]);
      expect(await redis.cli("KEYS", "sentinel:*")).toBe("sentinel:load_fixed_s_1767614400");
    } finally {
      await h.close();
      await sentinel.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sends the fixed-window counters of one batch as one script call, each key counted and expiring", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 12, 0, 30));
    const h = await startHarness({
      clock,
      configs: configs(),
      redisUrl: redis.url,
      redisKeyPrefix: "batch:",
      // Not under test here: a generous bound, so a loaded machine's slow Redis round trip is not an outage.
      redisTimeoutMs: 2_000,
    });
    try {
      await h.call("load", [[["fixed", "warm"]]]);
      await redis.cli("CONFIG", "RESETSTAT");
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) => h.call("load", [[["fixed", `client-${i % 20}`]]])),
      );
      // 20 counters, two hits each: every counter reports 99 and 98 remaining, in some order.
      const remaining = responses.map((r) => r.statuses[0]?.limitRemaining ?? -1).sort((a, b) => a - b);
      expect(remaining).toEqual([...Array(20).fill(98), ...Array(20).fill(99)]);
      const stats = await redis.cli("INFO", "commandstats");
      const scriptCalls = Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      const counted = Number(/cmdstat_incrby:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      expect(counted).toBeGreaterThanOrEqual(20);
      // One script call per batch (a turn, usually one here), not two commands per counter.
      expect(scriptCalls).toBeGreaterThan(0);
      expect(scriptCalls).toBeLessThan(counted);
      const windowStart = Math.floor(clock.now() / 60_000) * 60;
      // envoyproxy/ratelimit's own key format, so both can share counters.
      const key = `batch:load_fixed_client-3_${windowStart}`;
      expect(await redis.cli("GET", key)).toBe("2");
      expect(Number(await redis.cli("TTL", key))).toBeGreaterThan(0);
    } finally {
      await h.close();
    }
  });

  it("spells fixed-window keys Gantry's hash-tagged way with redisKeyFormat gantry", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 12, 0, 0));
    const h = await startHarness({
      clock,
      configs: configs(),
      redisUrl: redis.url,
      redisKeyPrefix: "format:",
      redisKeyFormat: "gantry",
    });
    try {
      await h.call("load", [[["fixed", "f"]]]);
      expect(await redis.cli("KEYS", "format:*")).toBe("format:{load_fixed_f_}fw60_1767614400");
    } finally {
      await h.close();
    }
  });

  it("coalesces concurrent hits on one key into few Redis calls and fans the counts back out exactly", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 12, 0, 0));
    const h = await startHarness({
      clock,
      configs: configs(),
      redisUrl: redis.url,
      redisKeyPrefix: "coalesce:",
      redisTimeoutMs: 2_000,
    });
    try {
      await h.call("load", [[["fixed", "warm"]]]);
      await redis.cli("CONFIG", "RESETSTAT");
      const responses = await Promise.all(Array.from({ length: 50 }, () => h.call("load", [[["fixed", "one"]]])));
      const remaining = responses.map((r) => r.statuses[0]?.limitRemaining ?? -1).sort((a, b) => a - b);
      expect(remaining).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i));
      const stats = await redis.cli("INFO", "commandstats");
      const calls = Number(/cmdstat_incrby:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      // One call when all 50 arrive in one turn (as here, usually); a few turns at most on a busy machine.
      expect(calls).toBeGreaterThan(0);
      expect(calls).toBeLessThan(25);
    } finally {
      await h.close();
    }
  });

  it("answers within the timeout bound while Redis is down, by the failure mode, and heals", async () => {
    const base = { configs: configs(), redisUrl: redis.url, redisTimeoutMs: 50 };
    const modes = {
      error: await startHarness({ ...base, redisFailureMode: "error" }),
      allow: await startHarness({ ...base, redisFailureMode: "allow" }),
      deny: await startHarness({ ...base, redisFailureMode: "deny" }),
    };
    try {
      const call = (h: Harness) => h.call("load", [[["fixed", "down"]]]);
      for (const h of Object.values(modes))
        await waitFor(async () => (await call(h)).overallCode === Code.OK, { what: "Redis to answer" });
      await redis.stop();
      const elapsed: number[] = [];
      const timed = async <T>(work: () => Promise<T>): Promise<T> => {
        const started = performance.now();
        try {
          return await work();
        } finally {
          elapsed.push(performance.now() - started);
        }
      };
      for (let i = 0; i < 5; i++) {
        await expect(timed(() => call(modes.error))).rejects.toMatchObject({ code: 14 });
        expect((await timed(() => call(modes.allow))).overallCode).toBe(Code.OK);
        const denied = await timed(() => call(modes.deny));
        expect(denied.overallCode).toBe(Code.OVER_LIMIT);
        expect(denied.statuses[0]?.currentLimit?.requestsPerUnit).toBe(100);
      }
      // Server side, every answer took at most the next latency bucket past the 50 ms bound...
      const within = async (h: Harness, code: string) =>
        [
          await h.metric("gantry_ratelimit_request_duration_seconds_bucket", { le: "0.1", code }),
          await h.metric("gantry_ratelimit_request_duration_seconds_count", { code }),
        ] as const;
      const [fastErrors, allErrors] = await within(modes.error, "UNAVAILABLE");
      expect(allErrors).toBe(5);
      expect(fastErrors).toBe(allErrors);
      for (const h of [modes.allow, modes.deny]) {
        const [fast, all] = await within(h, "OK");
        expect(fast).toBe(all);
      }
      // ...and as the client saw it, far from a hang (gRPC on a shared, busy 2-core machine adds the rest).
      expect(Math.max(...elapsed)).toBeLessThan(500);
      expect(await modes.error.metric("gantry_ratelimit_redis_errors_total")).toBeGreaterThanOrEqual(5);
      const readyz = async () => (await fetch(`http://127.0.0.1:${modes.error.server.metricsPort}/readyz`)).status;
      await waitFor(async () => (await readyz()) === 503, { what: "/readyz to report Redis down" });
      await redis.start();
      await waitFor(async () => (await readyz()) === 200, { timeoutMs: 10_000, what: "/readyz to report ready" });
      await waitFor(async () => (await call(modes.error)).overallCode === Code.OK, {
        timeoutMs: 10_000,
        what: "the service to use Redis again",
      });
    } finally {
      await Promise.all(Object.values(modes).map((h) => h.close()));
    }
  });

  it("with Redis hung (SIGSTOP), answers UNAVAILABLE within its bound and /readyz says not ready; both recover", async () => {
    const h = await startHarness({
      configs: configs(),
      redisUrl: redis.url,
      redisTimeoutMs: 50,
      redisKeyPrefix: "hung:",
    });
    const readyz = async () => {
      const response = await fetch(`http://127.0.0.1:${h.server.metricsPort}/readyz`);
      return { status: response.status, text: await response.text() };
    };
    try {
      const call = () => h.call("load", [[["fixed", "hung"]]]);
      await waitFor(async () => (await call()).overallCode === Code.OK, { what: "Redis to answer" });
      await waitFor(async () => (await readyz()).status === 200, { what: "/readyz to report ready" });
      redis.pause();
      let answer: Awaited<ReturnType<typeof call>> | unknown;
      let hung: { status: number; text: string };
      const started = Date.now();
      try {
        answer = await call().catch((err: unknown) => err);
        hung = await readyz();
      } finally {
        redis.resume();
      }
      // Two 50 ms bounds (the call, the PING); the rest is a busy machine, far below "hangs".
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(String((answer as Error).message)).toMatch(/UNAVAILABLE|redis/i);
      expect(hung.status).toBe(503);
      expect(hung.text).toMatch(/^not ready: redis did not answer PING within 50 ms\nredis: /);
      await waitFor(async () => (await readyz()).status === 200, { what: "/readyz to recover" });
      await waitFor(async () => (await call()).overallCode === Code.OK, { what: "calls to work again" });
    } finally {
      await h.close();
    }
  });
});
