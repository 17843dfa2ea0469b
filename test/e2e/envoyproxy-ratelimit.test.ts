import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code, RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { needTool } from "../support/tools.js";
import { waitFor } from "../support/wait.js";
import { applyYaml } from "./api.js";
import { shopResources } from "./fixture.js";

const logger = createLogger({ service: "e2e", level: "silent" });
const token = "e2e-api-token-0123456789abcdef";
const envoyRateLimit = needTool(
  "service_cmd",
  "build envoyproxy/ratelimit with `GOBIN=$PWD/.cache/bin go install github.com/envoyproxy/ratelimit/src/service_cmd@<version>` (npm test does this)",
);

describe.skipIf(!envoyRateLimit || !haveRedis())(
  "envoyproxy/ratelimit takes its limits from gantry server over xDS",
  () => {
    let redis: RedisServer;
    let server: ManagementServer;
    let peer: ManagedProcess;
    let grpcPort = 0;

    const apply = async (yaml: string) => {
      await applyYaml(server.apiPort, token, yaml);
    };

    const call = async (user: string) => {
      const client = createClient(RateLimitService, `127.0.0.1:${grpcPort}`);
      try {
        return await client.shouldRateLimit(
          {
            domain: "shop",
            descriptors: [
              {
                entries: [
                  { key: "route", value: "account" },
                  { key: "user", value: user },
                ],
              },
            ],
          },
          { timeoutMs: 2_000 },
        );
      } finally {
        client.close();
      }
    };

    beforeAll(async () => {
      redis = await startRedis();
      server = await startManagementServer({
        store: new MemoryStore(),
        host: "127.0.0.1",
        xdsPort: 0,
        apiPort: 0,
        apiToken: token,
        logger,
        registry: createRegistry("server", { processMetrics: false }),
        debounce: { quietMs: 20, maxDelayMs: 200 },
      });
      await apply(shopResources(3));
      const [grpc, httpPort, debugPort] = await freePorts(3);
      grpcPort = grpc;
      peer = await startProcess({
        name: "envoyproxy/ratelimit",
        command: envoyRateLimit as string,
        args: [],
        env: {
          ...process.env,
          CONFIG_TYPE: "GRPC_XDS_SOTW",
          CONFIG_GRPC_XDS_SERVER_URL: `127.0.0.1:${server.xdsPort}`,
          CONFIG_GRPC_XDS_NODE_ID: "envoyproxy-ratelimit-1",
          CONFIG_GRPC_XDS_NODE_METADATA: "role=ratelimit",
          CONFIG_GRPC_XDS_SERVER_CONNECT_RETRY_INTERVAL: "200ms",
          REDIS_SOCKET_TYPE: "tcp",
          REDIS_URL: `127.0.0.1:${redis.port}`,
          USE_STATSD: "false",
          LOG_LEVEL: "warn",
          HOST: "127.0.0.1",
          PORT: String(httpPort),
          GRPC_HOST: "127.0.0.1",
          GRPC_PORT: String(grpcPort),
          DEBUG_HOST: "127.0.0.1",
          DEBUG_PORT: String(debugPort),
        },
        // Ready once it answers with the limit it loaded from Gantry.
        ready: async () => (await call("probe")).statuses[0]?.currentLimit?.requestsPerUnit === 3,
        readyTimeoutMs: 30_000,
      });
    });

    afterAll(async () => {
      await peer?.stop();
      await server?.stop();
      await redis?.close();
    });

    it("loads the RateLimitConfig Gantry serves and enforces it", async () => {
      const codes: RateLimitResponse_Code[] = [];
      for (let i = 0; i < 4; i++) codes.push((await call("ada")).overallCode);
      expect(codes).toEqual([
        RateLimitResponse_Code.OK,
        RateLimitResponse_Code.OK,
        RateLimitResponse_Code.OK,
        RateLimitResponse_Code.OVER_LIMIT,
      ]);
      expect(server.proxies().find((p) => p.nodeId === "envoyproxy-ratelimit-1")?.types[0]?.ackedVersion).toBeTruthy();
    });

    it("follows a change of the policy", async () => {
      await apply(shopResources(5));
      await waitFor(async () => (await call("grace")).statuses[0]?.currentLimit?.requestsPerUnit === 5, {
        what: "envoyproxy/ratelimit to load the new limit",
        timeoutMs: 15_000,
      });
    });
  },
);
