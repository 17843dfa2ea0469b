// A dashboard session or ID token that cannot be checked because a backend is down (the management
// Redis holding the sign-outs, the OpenID provider's keys) is answered UNAVAILABLE (503), and the
// outage spends none of the address's failed-authentication budget: once Redis is back, the same
// session works, and a wrong token is still refused as a failure, not throttled.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/lib/clock.js";
import { createLogger, createRedis, type RedisClient } from "../../src/lib/index.js";
import { startManagementApi } from "../../src/server/api/index.js";
import { createUi, RedisSignOuts, SealingKeys } from "../../src/server/ui/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { freePort } from "../support/ports.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";
import { untranslatedDeps } from "./api-deps.js";

const keys = new SealingKeys([Buffer.alloc(32, 3)]);
const failuresPerMinute = 2;

describe.skipIf(!haveRedis())("dashboard sign-in while a backend is down", { timeout: 60_000 }, () => {
  let redisServer: RedisServer;
  let redis: RedisClient;
  let port = 0;
  let close: () => Promise<void> = async () => {};

  beforeAll(async () => {
    redisServer = await startRedis();
    redis = createRedis({ url: redisServer.url, commandTimeoutMs: 500 });
    const logger = createLogger({ service: "ui-outage-test", level: "silent" });
    // Nothing listens at the issuer: the provider's keys cannot be read.
    const issuer = `http://127.0.0.1:${await freePort()}/`;
    const ui = createUi(
      {
        oidc: {
          issuer,
          clientId: "gantry-ui",
          clientSecret: "gantry-ui-secret-0123456789",
          uiUrl: "http://127.0.0.1:1/ui/",
          groupRoles: new Map([["staff", "viewer"]]),
          sessionKeys: keys,
          signOuts: new RedisSignOuts(redis, systemClock),
        },
      },
      { logger, timers: systemClock },
    );
    const api = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token: undefined,
      ...(ui.oidc ? { oidc: ui.oidc } : {}),
      deps: untranslatedDeps(new MemoryStore()),
      limits: { authFailuresPerMinute: failuresPerMinute },
      logger,
    });
    port = api.port;
    close = () => api.close();
  });

  afterAll(async () => {
    await close();
    redis?.disconnect();
    await redisServer?.close();
  });

  const overview = async (bearer: string) => {
    const response = await fetch(`http://127.0.0.1:${port}/gantry.api.v1.ManagementService/Overview`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: "{}",
    });
    return {
      status: response.status,
      body: (await response.json()) as { code?: string; message?: string },
      gantryAuth: response.headers.get("gantry-auth"),
    };
  };
  const session = () => keys.seal("ui-session", { sid: "s1", sub: "ada", role: "viewer", exp: Date.now() + 600_000 });

  it("answers UNAVAILABLE while the management Redis is down, counts no failure, and accepts the session after", async () => {
    expect((await overview(session())).status).toBe(200);

    await redisServer.stop();
    for (let i = 0; i < failuresPerMinute * 3; i++) {
      const answer = await overview(session());
      expect(answer.status).toBe(503);
      expect(answer.body.code).toBe("unavailable");
      expect(answer.body.message).toMatch(/^cannot check the session's sign-out: /);
      // What tells the dashboard this from a method's own UNAVAILABLE (docs/ui.md).
      expect(answer.gantryAuth).toBe("unavailable");
    }
    // The ID token path: the provider cannot be reached, which is no fault of the token either.
    const idToken = await overview("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl");
    expect(idToken).toMatchObject({ status: 503, body: { code: "unavailable" }, gantryAuth: "unavailable" });
    expect(idToken.body.message).toMatch(/^cannot check the ID token: the OpenID provider is unavailable/);

    await redisServer.start();
    await waitFor(async () => (await overview(session())).status === 200, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "the session to be accepted once Redis is back",
    });
    // The budget is whole: a wrong token is a failed authentication (401), not throttled (429).
    const wrong = await overview("not-a-token-at-all");
    expect(wrong.status).toBe(401);
    expect(wrong.gantryAuth).toBeNull();
  });
});
