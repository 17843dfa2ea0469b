import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { type Harness, startHarness, yamlConfigs } from "./harness.js";

/** Bytes that are not a RateLimitRequest: a length-delimited field 1 that claims more bytes than follow. */
const garbage = Buffer.from([0x0a, 0x7f, 0x01, 0x02]);

describe("undecodable requests", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ configs: yamlConfigs("domain: d\ndescriptors:\n  - key: k\n") });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("are answered with INVALID_ARGUMENT and the server keeps serving", async () => {
    const Raw = grpc.makeGenericClientConstructor(
      {
        shouldRateLimit: {
          path: "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      "Raw",
    );
    const raw = new Raw(
      `127.0.0.1:${harness.server.grpcPort}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      shouldRateLimit(req: Buffer, cb: (err: grpc.ServiceError | null) => void): void;
    };
    const err = await new Promise<grpc.ServiceError | null>((resolve) => raw.shouldRateLimit(garbage, resolve));
    raw.close();
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toContain("not a valid envoy.service.ratelimit.v3.RateLimitRequest");
    expect((await harness.call("d", [[["k", "v"]]])).overallCode).toBe(Code.OK);
  });
});
