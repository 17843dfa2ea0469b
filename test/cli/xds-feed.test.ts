import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { parseResources } from "../../src/resources/index.js";
import { resourceToDocument } from "../../src/server/documents.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { shopResources } from "../e2e/fixture.js";
import { freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";

const run = promisify(execFile);
const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const logger = createLogger({ service: "test", level: "silent" });

describe("gantry extauth / ratelimit --xds-server: config from the management server", () => {
  const store = new MemoryStore();
  let server: ManagementServer;
  const processes: ManagedProcess[] = [];

  beforeAll(async () => {
    await store.apply(parseResources(shopResources(3), "fixture.yaml").resources.map(resourceToDocument));
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: "feed-test-token-0123456789",
      logger,
      registry: createRegistry("server", { processMetrics: false }),
    });
  });

  afterAll(async () => {
    for (const p of processes) await p.stop();
    await server?.stop();
  });

  const serve = async (command: "extauth" | "ratelimit", ready: (port: number) => Promise<boolean>) => {
    const [grpcPort, metricsPort] = await freePorts(2);
    processes.push(
      await startProcess({
        name: `gantry ${command}`,
        command: process.execPath,
        args: [
          bin,
          command,
          "--host",
          "127.0.0.1",
          "--grpc-port",
          String(grpcPort),
          "--metrics-port",
          String(metricsPort),
          "--xds-server",
          `127.0.0.1:${server.xdsPort}`,
          "--node-id",
          `${command}-feed-test`,
          // Feeds mode with workers: the primary follows xDS and hands each version to every worker.
          "--workers",
          "2",
        ],
        ready: () => ready(grpcPort).catch(() => false),
        readyTimeoutMs: 20_000,
      }),
    );
    return grpcPort;
  };

  it("gantry ratelimit enforces the limits it is fed", async () => {
    await serve("ratelimit", async (port) => {
      const client = createClient(RateLimitService, `127.0.0.1:${port}`);
      try {
        const response = await client.shouldRateLimit(
          {
            domain: "shop",
            descriptors: [
              {
                entries: [
                  { key: "route", value: "account" },
                  { key: "user", value: "x" },
                ],
              },
            ],
          },
          { timeoutMs: 1_000 },
        );
        return response.statuses[0]?.currentLimit?.requestsPerUnit === 3;
      } finally {
        client.close();
      }
    });
    expect(server.proxies().some((p) => p.nodeId === "ratelimit-feed-test")).toBe(true);
  });

  it("gantry extauth decides with the auth configs it is fed", async () => {
    await serve("extauth", async (port) => {
      const client = createClient(Authorization, `127.0.0.1:${port}`);
      try {
        const response = await client.check(
          {
            attributes: {
              contextExtensions: { config_id: "e2e/admins" },
              request: {
                http: {
                  method: "GET",
                  path: "/account",
                  headers: { authorization: `Basic ${Buffer.from("ada:password").toString("base64")}` },
                },
              },
            },
          },
          { timeoutMs: 1_000 },
        );
        return response.status?.code === 0;
      } finally {
        client.close();
      }
    });
    expect(server.proxies().some((p) => p.nodeId === "extauth-feed-test")).toBe(true);
  });

  it("refuses two config sources at once", async () => {
    const result = await run(process.execPath, [
      bin,
      "ratelimit",
      "--config-dir",
      "/tmp",
      "--xds-server",
      "127.0.0.1:1",
    ]).catch((err: { stderr: string; code: number }) => err);
    expect((result as { code: number }).code).toBe(1);
    expect((result as { stderr: string }).stderr).toContain("--config-dir and --xds-server are two config sources");
  });
});
