import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ApiKeyDirectory,
  createApiKey,
  hashApiKey,
  listApiKeys,
  revokeApiKey,
} from "../../../src/extauth/apikeys/index.js";
import type { Evaluator, Verdict } from "../../../src/extauth/evaluator.js";
import { createApiKeyEvaluator } from "../../../src/extauth/evaluators/apikey.js";
import { type ExtAuthServer, startExtAuthServer } from "../../../src/extauth/index.js";
import { ApiKeyAuthSchema } from "../../../src/gen/gantry/extauth/v1/api_key_pb.js";
import { AuthConfigSchema } from "../../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { createRedis, ManualClock, type RedisClient, waitForRedis } from "../../../src/lib/index.js";
import {
  haveRedis,
  type RedisCluster,
  type RedisServer,
  startRedis,
  startRedisCluster,
  waitFor,
} from "../../support/index.js";
import { checkClient, checkRequest, context, quietLogger, summary } from "../helpers.js";

describe.skipIf(!haveRedis())("API keys in Redis", () => {
  let redisServer: RedisServer;
  let redis: RedisClient;
  const clock = new ManualClock();
  let directory: ApiKeyDirectory;

  beforeAll(async () => {
    redisServer = await startRedis();
    redis = createRedis({ url: redisServer.url, commandTimeoutMs: 200 });
    await waitForRedis(redis);
    directory = new ApiKeyDirectory({ redis, clock, logger: quietLogger });
    await directory.subscribed();
  });

  afterAll(async () => {
    await directory?.close();
    redis?.disconnect();
    await redisServer?.close();
  });

  const evaluator = (settings: Parameters<typeof create<typeof ApiKeyAuthSchema>>[1] = {}): Evaluator =>
    createApiKeyEvaluator(
      create(ApiKeyAuthSchema, settings),
      { clock, logger: quietLogger, redis, baseDir: ".", apiKeys: directory },
      "configs[0].apiKeyAuth",
    );
  const verdict = async (e: Evaluator, headers: Record<string, string>): Promise<Verdict> =>
    e.evaluate(context({ headers }));

  it("stores only the key's SHA-256, lists and revokes by id", async () => {
    const { secret, record } = await createApiKey(redis, clock, {
      name: "ci",
      labels: { team: "shop" },
      metadata: { plan: "gold" },
    });
    expect(secret).toMatch(/^gak_[A-Za-z0-9_-]{43}$/);
    const dump =
      (await redisServer.cli("HGETALL", "{gantry-apikeys}:byhash")) +
      (await redisServer.cli("HGETALL", "{gantry-apikeys}:byid"));
    expect(dump).not.toContain(secret);
    expect(dump).toContain(hashApiKey(secret));
    const listed = await listApiKeys(redis);
    expect(listed.find((k) => k.id === record.id)).toEqual({
      id: record.id,
      name: "ci",
      labels: { team: "shop" },
      metadata: { plan: "gold" },
      createdAt: new Date(clock.now()).toISOString(),
    });
    expect(await revokeApiKey(redis, record.id)).toBe(true);
    expect(await revokeApiKey(redis, record.id)).toBe(false);
    expect((await listApiKeys(redis)).some((k) => k.id === record.id)).toBe(false);
  });

  it("answers from the cache without Redis, and forgets a revoked key at once", async () => {
    const { secret, record } = await createApiKey(redis, clock, { metadata: { user: "u1" } });
    const e = evaluator();
    expect(await verdict(e, { "api-key": secret })).toMatchObject({ kind: "allow" });
    // Cached: the answer is synchronous.
    await waitFor(() => e.evaluate(context({ headers: { "api-key": secret } })), { what: "the key to be cached" });
    expect(e.evaluate(context({ headers: { "api-key": secret } }))).toMatchObject({ kind: "allow" });
    await revokeApiKey(redis, record.id);
    await waitFor(() => e.evaluate(context({ headers: { "api-key": secret } })) instanceof Promise, {
      what: "the revocation to reach the cache",
    });
    expect(await verdict(e, { "api-key": secret })).toEqual({ kind: "deny", status: 401, reason: "unknown API key" });
  });

  it("refetches after the TTL", async () => {
    const { secret } = await createApiKey(redis, clock, {});
    const e = evaluator();
    await verdict(e, { "api-key": secret });
    expect(e.evaluate(context({ headers: { "api-key": secret } }))).toMatchObject({ kind: "allow" });
    clock.advance(60_000);
    expect(e.evaluate(context({ headers: { "api-key": secret } }))).toBeInstanceOf(Promise);
  });

  it("selects keys by labels and copies metadata to headers", async () => {
    const { secret } = await createApiKey(redis, clock, {
      labels: { team: "shop", env: "prod" },
      metadata: { user: "u7", plan: "gold" },
    });
    const e = evaluator({
      headerName: "X-Api-Key",
      labelSelector: { team: "shop" },
      headersFromMetadata: {
        "x-user-id": { entry: "user", required: true },
        "x-plan": { entry: "plan" },
        "x-org": { entry: "org" },
      },
    });
    const allowed = await verdict(e, { "x-api-key": secret });
    expect(allowed).toMatchObject({
      kind: "allow",
      headers: [
        { name: "x-user-id", value: "u7" },
        { name: "x-plan", value: "gold" },
      ],
      headersToRemove: ["x-api-key"],
      dynamicMetadata: { api_key: { metadata: { user: "u7", plan: "gold" } } },
    });
    expect(await verdict(e, { "api-key": secret })).toMatchObject({ kind: "deny", reason: "missing API key" });
    const otherTeam = evaluator({ labelSelector: { team: "billing" } });
    expect(await verdict(otherTeam, { "api-key": secret })).toMatchObject({ kind: "deny", status: 403 });
    const needsOrg = evaluator({ headersFromMetadata: { "x-org": { entry: "org", required: true } } });
    expect(await verdict(needsOrg, { "api-key": secret })).toMatchObject({
      kind: "deny",
      status: 403,
      reason: expect.stringContaining('no metadata entry "org"'),
    });
  });

  it("refuses to build without Redis, and names a bad header", () => {
    expect(() =>
      createApiKeyEvaluator(
        create(ApiKeyAuthSchema, {}),
        { clock, logger: quietLogger, redis: undefined, baseDir: "." },
        "configs[1].apiKeyAuth",
      ),
    ).toThrow("configs[1].apiKeyAuth: API keys need the ext-auth Redis");
    expect(() => evaluator({ headerName: "bad header" })).toThrow("configs[0].apiKeyAuth.headerName");
  });
});

describe.skipIf(!haveRedis())("API keys through the server, with Redis failing", () => {
  let redisServer: RedisServer;
  let server: ExtAuthServer;
  let admin: RedisClient;

  beforeAll(async () => {
    redisServer = await startRedis();
    admin = createRedis({ url: redisServer.url });
    server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      redisUrl: redisServer.url,
      redisCommandTimeoutMs: 100,
      logger: quietLogger,
      configs: [
        create(AuthConfigSchema, {
          id: "strict",
          configs: [{ name: "keys", evaluator: { case: "apiKeyAuth", value: {} } }],
        }),
        create(AuthConfigSchema, {
          id: "lenient",
          configs: [{ name: "keys", failureModeAllow: true, evaluator: { case: "apiKeyAuth", value: {} } }],
        }),
      ],
    });
  });

  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
    await redisServer?.close();
  });

  it("allows a stored key, then denies (or allows, per failureModeAllow) while Redis is down", async () => {
    const client = checkClient(server.grpcPort);
    try {
      const { secret } = await createApiKey(admin, new ManualClock(), { metadata: { plan: "free" } });
      const allowed = summary(await client.check(checkRequest({ configId: "strict", headers: { "api-key": secret } })));
      expect(allowed.allowed).toBe(true);
      expect(allowed.headersToRemove).toEqual(["api-key"]);
      expect(allowed.metadata).toMatchObject({ api_key: { metadata: { plan: "free" } } });
      // The second answer comes from the cache, encoded once: it must say the same.
      const again = summary(await client.check(checkRequest({ configId: "strict", headers: { "api-key": secret } })));
      expect(again).toEqual(allowed);

      await redisServer.stop();
      const unknownKey = { "api-key": "gak_not-cached" };
      const strict = summary(await client.check(checkRequest({ configId: "strict", headers: unknownKey })));
      expect(strict).toMatchObject({ allowed: false, httpStatus: 403, metadata: { step: "keys" } });
      expect(String(strict.metadata["reason"])).toMatch(/^API key lookup failed/);
      const lenient = summary(await client.check(checkRequest({ configId: "lenient", headers: unknownKey })));
      expect(lenient.allowed).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(
        /gantry_extauth_backend_errors_total\{config_id="strict",evaluator="apiKeyAuth"[^}]*\} [1-9]/,
      );
      expect((await fetch(`http://127.0.0.1:${server.metricsPort}/readyz`)).status).toBe(503);

      await redisServer.start();
      await waitFor(
        async () =>
          summary(await client.check(checkRequest({ configId: "strict", headers: unknownKey }))).httpStatus === 401,
        { what: "lookups to work again once Redis is back" },
      );
    } finally {
      client.close();
    }
  });
});

describe.skipIf(!haveRedis())("API keys in a Redis Cluster", () => {
  let cluster: RedisCluster;
  let redis: RedisClient;
  let directory: ApiKeyDirectory;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    redis = createRedis({ url: cluster.url, commandTimeoutMs: 1_000 });
    await waitForRedis(redis, 10_000);
    directory = new ApiKeyDirectory({ redis, clock: new ManualClock(), logger: quietLogger });
    await directory.subscribed();
  });

  afterAll(async () => {
    await directory?.close();
    redis?.disconnect();
    await cluster?.close();
  });

  it("creates, finds, lists and revokes keys, and revocations reach the cache", async () => {
    const { secret, record } = await createApiKey(redis, new ManualClock(), { labels: { team: "a" } });
    expect(await directory.find(secret)).toEqual(record);
    expect((await listApiKeys(redis)).map((k) => k.id)).toContain(record.id);
    await waitFor(() => !(directory.find(secret) instanceof Promise), { what: "the key to be cached" });
    expect(await revokeApiKey(redis, record.id)).toBe(true);
    await waitFor(() => directory.find(secret) instanceof Promise, { what: "the revocation to reach the cache" });
    expect(await directory.find(secret)).toBeUndefined();
  });
});
