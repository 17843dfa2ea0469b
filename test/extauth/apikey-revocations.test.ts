import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ApiKeyDirectory, createApiKey, revokeApiKey } from "../../src/extauth/apikeys/index.js";
import { type ExtAuthServer, startExtAuthServer } from "../../src/extauth/index.js";
import { AuthConfigSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { createRedis, ManualClock, type RedisClient, waitForRedis } from "../../src/lib/index.js";
import { freePort, haveRedis, type RedisServer, startRedis, waitFor } from "../support/index.js";
import { checkClient, checkRequest, quietLogger, summary } from "./helpers.js";

/** The ext-auth side of issue 17 problem 6: revocations must reach a server whose Redis came up late or went away. */
describe.skipIf(!haveRedis())("API key revocations", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const readyz = async (server: ExtAuthServer) => {
    const response = await fetch(`http://127.0.0.1:${server.metricsPort}/readyz`);
    return { status: response.status, text: await response.text() };
  };
  const subscribedGauge = async (server: ExtAuthServer) => {
    const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    return /^gantry_extauth_apikey_revocation_subscribed(?:\{[^}]*\})? (\d)$/m.exec(text)?.[1];
  };

  it("subscribes once a late Redis comes up, and a revoked key stops working within a bound", async () => {
    const redisServer: RedisServer = await startRedis({ running: false });
    cleanups.push(() => redisServer.close());
    const server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      redisUrl: redisServer.url,
      logger: quietLogger,
      configs: [
        create(AuthConfigSchema, {
          id: "keys",
          configs: [{ name: "keys", evaluator: { case: "apiKeyAuth", value: {} } }],
        }),
      ],
    });
    cleanups.push(() => server.stop());
    const client = checkClient(server.grpcPort);
    cleanups.push(() => client.close());

    const early = await readyz(server);
    expect(early.status).toBe(503);
    expect(early.text).toContain("apikey revocations: not subscribed");
    expect(await subscribedGauge(server)).toBe("0");

    await redisServer.start();
    // The subscription retries with back-off (≤ 5 s) and at once when the connection comes up.
    await waitFor(async () => (await readyz(server)).status === 200, {
      timeoutMs: 10_000,
      what: "ext-auth to be ready",
    });
    expect((await readyz(server)).text).toContain("apikey revocations: subscribed");
    expect(await subscribedGauge(server)).toBe("1");

    const admin = createRedis({ url: redisServer.url });
    cleanups.push(() => admin.disconnect());
    await waitForRedis(admin);
    const { secret, record } = await createApiKey(admin, new ManualClock(), {});
    const check = async () =>
      summary(await client.check(checkRequest({ configId: "keys", headers: { "api-key": secret } })));
    expect((await check()).allowed).toBe(true);
    expect((await check()).allowed).toBe(true); // now from the cache

    const revokedAt = Date.now();
    expect(await revokeApiKey(admin, record.id)).toBe(true);
    await waitFor(async () => (await check()).httpStatus === 401, {
      timeoutMs: 5_000,
      what: "the revoked key to fail",
    });
    // Announced on the channel: well under the 60 s cache TTL.
    expect(Date.now() - revokedAt).toBeLessThan(2_000);

    // A hung Redis (SIGSTOP) is not ready either: /readyz PINGs within the 100 ms Redis deadline.
    redisServer.pause();
    let hung: { status: number; text: string };
    try {
      hung = await readyz(server);
    } finally {
      redisServer.resume();
    }
    expect(hung.status).toBe(503);
    expect(hung.text).toMatch(/^not ready: redis did not answer PING within 100 ms\n/);
    await waitFor(async () => (await readyz(server)).status === 200, { what: "/readyz to recover" });

    // A Redis restart drops the subscription; it is re-established and revocations reach the cache again.
    await redisServer.stop();
    await waitFor(async () => (await subscribedGauge(server)) === "0", {
      what: "the subscription to be reported lost",
    });
    expect((await readyz(server)).status).toBe(503);
    await redisServer.start();
    await waitFor(async () => (await subscribedGauge(server)) === "1", {
      timeoutMs: 10_000,
      what: "the subscription to be re-established",
    });
    await waitForRedis(admin, 10_000);
    const second = await createApiKey(admin, new ManualClock(), {});
    const checkSecond = async () =>
      summary(await client.check(checkRequest({ configId: "keys", headers: { "api-key": second.secret } })));
    expect((await checkSecond()).allowed).toBe(true);
    await revokeApiKey(admin, second.record.id);
    await waitFor(async () => (await checkSecond()).httpStatus === 401, {
      timeoutMs: 5_000,
      what: "the second revoked key to fail",
    });
  });

  it("while not subscribed, keeps a key's verdict in memory no longer than the unsubscribed TTL", async () => {
    const redisServer = await startRedis();
    cleanups.push(() => redisServer.close());
    const redis: RedisClient = createRedis({ url: redisServer.url, commandTimeoutMs: 500 });
    cleanups.push(() => redis.disconnect());
    await waitForRedis(redis);
    const clock = new ManualClock();
    // Revocations would arrive on a Redis that is not there: the subscription never succeeds.
    const subscriber = createRedis({ url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 50 });
    const directory = new ApiKeyDirectory({ redis, subscriber, clock, logger: quietLogger, unsubscribedTtlMs: 1_000 });
    cleanups.push(() => directory.close());
    expect(directory.revocationsSubscribed).toBe(false);

    const { secret, record } = await createApiKey(redis, clock, {});
    expect(await directory.find(secret)).toEqual(record);
    expect(directory.find(secret)).toEqual(record); // cached: answered synchronously
    await revokeApiKey(redis, record.id); // announced, but not heard here
    clock.advance(999);
    expect(directory.find(secret)).toEqual(record);
    clock.advance(2);
    expect(await directory.find(secret)).toBeUndefined();
  });
});
