import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExtAuthServer, startExtAuthServer } from "../../src/extauth/index.js";
import { followAuthConfigs, followRateLimitConfigs } from "../../src/feeds/index.js";
import { type RouteConfiguration, RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { ExtAuthzPerRouteSchema } from "../../src/gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { RateLimitResponse_Code, RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type RateLimitServer, startRateLimitServer } from "../../src/ratelimit/index.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { RedisStore } from "../../src/store/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";
import { applyYaml } from "./api.js";
import { descriptorsFor, routeFor, type SampleRequest } from "./envoy.js";
import { shopResources } from "./fixture.js";

const logger = createLogger({ service: "e2e", level: "silent" });
const token = "e2e-api-token-0123456789abcdef";
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe.skipIf(!haveRedis())("end to end: gantry server feeds ext-auth and rate-limit servers over xDS", () => {
  const redis: Record<"management" | "extauth" | "ratelimit", RedisServer | undefined> = {
    management: undefined,
    extauth: undefined,
    ratelimit: undefined,
  };
  let store: RedisStore;
  let server: ManagementServer;
  let extauth: ExtAuthServer;
  let ratelimit: RateLimitServer;
  const xdsClients: Array<{ stop(): Promise<void> }> = [];
  let routes: RouteConfiguration | undefined;

  const apply = (yaml: string) => applyYaml(server.apiPort, token, yaml);

  beforeAll(async () => {
    redis.management = await startRedis();
    redis.extauth = await startRedis();
    redis.ratelimit = await startRedis();
    store = new RedisStore({ url: redis.management.url });
    await store.ready();
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: token,
      translate: { extAuth: { host: "127.0.0.1", port: 8083 }, rateLimit: { host: "127.0.0.1", port: 8081 } },
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
    const xdsAddress = `127.0.0.1:${server.xdsPort}`;
    extauth = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      redisUrl: redis.extauth.url,
      logger,
    });
    ratelimit = await startRateLimitServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      redisUrl: redis.ratelimit.url,
      // Not under test here: a generous bound, so a loaded machine's slow Redis round trip is not an outage.
      redisTimeoutMs: 2_000,
      logger,
      registry: createRegistry("ratelimit", { processMetrics: false }),
    });
    xdsClients.push(followAuthConfigs(extauth, { server: xdsAddress, nodeId: "extauth-e2e", logger }));
    xdsClients.push(followRateLimitConfigs(ratelimit, { server: xdsAddress, nodeId: "ratelimit-e2e", logger }));
    // A gateway proxy, for the route configuration Envoy would run.
    const proxy = new XdsClient({
      server: xdsAddress,
      node: { id: "gateway-e2e", cluster: "gateways", metadata: { role: "gateway", labels: { gateway: "e2e" } } },
      logger,
    });
    proxy.subscribe(RouteConfigurationSchema, {
      names: ["e2e/edge/8080"],
      onUpdate: (configs) => {
        routes = [...configs.values()][0];
      },
    });
    proxy.start();
    xdsClients.push(proxy);

    await apply(shopResources(3));
    await waitFor(() => routes && extauth.configIds.includes("e2e/admins") && ratelimit.domains().includes("shop"), {
      what: "routes at the proxy, auth configs at ext-auth and limits at rate-limit",
      timeoutMs: 15_000,
    });
  });

  afterAll(async () => {
    for (const client of xdsClients) await client.stop();
    await extauth?.stop();
    await ratelimit?.stop();
    await server?.stop();
    await store?.close();
    for (const r of Object.values(redis)) await r?.close();
  });

  const account: SampleRequest = {
    host: "shop.example.com",
    path: "/account/orders",
    headers: { "x-user": "ada" },
    remoteAddress: "192.0.2.10",
  };

  const contextExtensions = (request: SampleRequest) => {
    const route = routeFor(routes as RouteConfiguration, request);
    const any = route.typedPerFilterConfig["envoy.filters.http.ext_authz"];
    const perRoute = any && anyUnpack(any, ExtAuthzPerRouteSchema);
    return perRoute?.override;
  };

  it("ext-auth allows and denies as the route's policy says, with the config id the route carries", async () => {
    const override = contextExtensions(account);
    expect(override?.case).toBe("checkSettings");
    const configId = override?.case === "checkSettings" ? override.value.contextExtensions["config_id"] : undefined;
    expect(configId).toBe("e2e/admins");

    const client = createClient(Authorization, `127.0.0.1:${extauth.grpcPort}`);
    try {
      const check = (authorization: string) =>
        client.check({
          attributes: {
            contextExtensions: { config_id: configId ?? "" },
            request: { http: { method: "GET", host: account.host, path: account.path, headers: { authorization } } },
          },
        });
      expect((await check(basic("ada", "password"))).status?.code).toBe(0);
      const denied = await check(basic("ada", "wrong"));
      expect(denied.status?.code).not.toBe(0);
      expect(denied.httpResponse.case === "deniedResponse" && denied.httpResponse.value.status?.code).toBe(401);
    } finally {
      client.close();
    }
    // Routes without the policy turn the filter off.
    expect(contextExtensions({ ...account, path: "/assets/logo.png" })?.case).toBe("disabled");
  });

  it("rate limiting counts exactly what the route's actions describe, and follows a policy change", async () => {
    const route = routeFor(routes as RouteConfiguration, account);
    const action = route.action.case === "route" ? route.action.value : undefined;
    const descriptors = descriptorsFor(action?.rateLimits ?? [], account);
    expect(descriptors).toEqual([
      [
        { key: "route", value: "account" },
        { key: "user", value: "ada" },
      ],
    ]);
    const client = createClient(RateLimitService, `127.0.0.1:${ratelimit.grpcPort}`);
    const call = (user: string) =>
      client.shouldRateLimit({
        domain: "shop",
        descriptors: descriptorsFor(action?.rateLimits ?? [], { ...account, headers: { "x-user": user } }).map(
          (entries) => ({ entries }),
        ),
      });
    try {
      const codes: RateLimitResponse_Code[] = [];
      for (let i = 0; i < 4; i++) codes.push((await call("ada")).overallCode);
      expect(codes).toEqual([
        RateLimitResponse_Code.OK,
        RateLimitResponse_Code.OK,
        RateLimitResponse_Code.OK,
        RateLimitResponse_Code.OVER_LIMIT,
      ]);

      await apply(shopResources(5));
      await waitFor(async () => (await call("grace")).statuses[0]?.currentLimit?.requestsPerUnit === 5, {
        what: "the new limit at the rate-limit server",
      });
    } finally {
      client.close();
    }
  });

  it("the services keep their last good config while the management server is away", async () => {
    await server.stop();
    const client = createClient(Authorization, `127.0.0.1:${extauth.grpcPort}`);
    try {
      const response = await client.check({
        attributes: {
          contextExtensions: { config_id: "e2e/admins" },
          request: { http: { method: "GET", path: "/account", headers: { authorization: basic("ada", "password") } } },
        },
      });
      expect(response.status?.code).toBe(0);
      expect(ratelimit.domains()).toContain("shop");
    } finally {
      client.close();
    }
  });
});
