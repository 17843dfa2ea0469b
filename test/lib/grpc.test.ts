import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import { DiscoveryResponseSchema } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createClient, GrpcError, GrpcServer, GrpcStatus } from "../../src/lib/grpc.js";
import { HealthService } from "../../src/lib/health.js";
import { createLogger } from "../../src/lib/logger.js";
import { waitFor } from "../support/wait.js";
import { expectHealthServed } from "./health-checks.js";

const logger = createLogger({ service: "test", level: "silent" });

describe("GrpcServer with protobuf-es services", () => {
  const server = new GrpcServer({ logger });
  const health = new HealthService();
  let address = "";

  beforeAll(async () => {
    server.add(Authorization, {
      check: (request) => {
        const path = request.attributes?.request?.http?.path ?? "";
        if (path === "/throw") throw new Error("a bug in a handler");
        if (path === "/bad") throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "path is bad");
        const allowed = request.attributes?.contextExtensions["config_id"] === "allow";
        return {
          status: { code: allowed ? 0 : 7, message: allowed ? "" : "denied" },
          httpResponse: allowed
            ? { case: "okResponse", value: { headers: [{ header: { key: "x-user", value: "ada" } }] } }
            : { case: "deniedResponse", value: { status: { code: 403 }, body: "no" } },
        };
      },
    });
    server.add(AggregatedDiscoveryService, {
      streamAggregatedResources: (call) => {
        call.on("data", (request) => {
          call.write(create(DiscoveryResponseSchema, { typeUrl: request.typeUrl, versionInfo: "v1", nonce: "n1" }));
        });
        call.on("end", () => call.end());
      },
      deltaAggregatedResources: (call) => {
        call.on("data", () => call.destroy(new GrpcError(GrpcStatus.UNIMPLEMENTED, "no delta here")));
      },
    });
    health.register(server);
    const port = await server.listen("127.0.0.1", 0);
    address = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await server.shutdown(1_000);
  });

  it("round-trips a unary Envoy Check call with generated types", async () => {
    const client = createClient(Authorization, address);
    try {
      const allowed = await client.check({
        attributes: { contextExtensions: { config_id: "allow" }, request: { http: { path: "/x", method: "GET" } } },
      });
      expect(allowed.status?.code).toBe(0);
      expect(allowed.httpResponse.case).toBe("okResponse");
      if (allowed.httpResponse.case === "okResponse") {
        expect(allowed.httpResponse.value.headers[0]?.header?.value).toBe("ada");
      }
      const denied = await client.check({ attributes: { contextExtensions: { config_id: "other" } } });
      expect(denied.status?.code).toBe(7);
      expect(denied.httpResponse.case === "deniedResponse" && denied.httpResponse.value.body).toBe("no");
    } finally {
      client.close();
    }
  });

  it("answers a GrpcError with its code and any other error with INTERNAL, and keeps serving", async () => {
    const client = createClient(Authorization, address);
    try {
      await expect(client.check({ attributes: { request: { http: { path: "/bad" } } } })).rejects.toMatchObject({
        code: GrpcStatus.INVALID_ARGUMENT,
        details: "path is bad",
      });
      await expect(client.check({ attributes: { request: { http: { path: "/throw" } } } })).rejects.toMatchObject({
        code: GrpcStatus.INTERNAL,
        details: "internal error",
      });
      const after = await client.check({ attributes: { contextExtensions: { config_id: "allow" } } });
      expect(after.status?.code).toBe(0);
    } finally {
      client.close();
    }
  });

  it("serves bidi streams (ADS shape)", async () => {
    const client = createClient(AggregatedDiscoveryService, address);
    try {
      const stream = client.streamAggregatedResources();
      const received: string[] = [];
      stream.on("data", (response) => received.push(`${response.typeUrl}@${response.versionInfo}`));
      stream.write({ typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster" });
      stream.write({ typeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener" });
      await waitFor(() => received.length === 2, { what: "two responses" });
      expect(received).toEqual([
        "type.googleapis.com/envoy.config.cluster.v3.Cluster@v1",
        "type.googleapis.com/envoy.config.listener.v3.Listener@v1",
      ]);
      stream.end();
    } finally {
      client.close();
    }
  });

  it("serves the gRPC health service, with watch (server streaming)", async () => {
    await expectHealthServed(address, health, "gantry.test");
  });

  it("enforces deadlines on the client side", async () => {
    const slow = new GrpcServer({ logger });
    slow.add(Authorization, { check: () => new Promise(() => {}) });
    const port = await slow.listen("127.0.0.1", 0);
    const client = createClient(Authorization, `127.0.0.1:${port}`);
    try {
      await expect(client.check({}, { timeoutMs: 50 })).rejects.toMatchObject({ code: GrpcStatus.DEADLINE_EXCEEDED });
    } finally {
      client.close();
      await slow.shutdown(100);
    }
  });

  it("cancels a stream still open when the shutdown grace period ends on its clock, and not before", async () => {
    const clock = new ManualClock(0);
    const lingering = new GrpcServer({ logger, clock });
    let opened = false;
    lingering.add(AggregatedDiscoveryService, {
      streamAggregatedResources: () => {
        opened = true;
      },
      deltaAggregatedResources: () => {},
    });
    const port = await lingering.listen("127.0.0.1", 0);
    const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${port}`);
    try {
      const stream = client.streamAggregatedResources();
      const ended = new Promise<number>((resolve) => stream.on("error", (err: { code: number }) => resolve(err.code)));
      stream.write({ typeUrl: "t" });
      await waitFor(() => opened, { what: "the stream to open" });
      let stopped = false;
      const stopping = lingering.shutdown(1_000).then(() => {
        stopped = true;
      });
      clock.advance(999);
      await new Promise((resolve) => setImmediate(resolve));
      expect(stopped).toBe(false);
      clock.advance(1);
      await stopping;
      expect(await ended).toBe(GrpcStatus.CANCELLED);
    } finally {
      client.close();
    }
  });
});
