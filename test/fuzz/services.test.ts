import { fc, test } from "@fast-check/vitest";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { parseAuthConfigFile } from "../../src/extauth/config-file.js";
import { type ExtAuthServer, startExtAuthServer } from "../../src/extauth/index.js";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { type CheckClient, checkClient, quietLogger } from "../extauth/helpers.js";
import { type Harness, startHarness, yamlConfigs } from "../ratelimit/harness.js";
import { runs, timeoutMs } from "./budget.js";

/** The gRPC codes a server may answer a request it cannot serve with; INTERNAL (a bug) is never among them. */
const refusals = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.UNKNOWN, grpc.status.RESOURCE_EXHAUSTED]);

/** Calls `method` with raw bytes, as a client with a broken or hostile encoder would. */
function rawCall(port: number, path: string, bytes: Buffer): Promise<grpc.ServiceError | null> {
  const Raw = grpc.makeGenericClientConstructor(
    {
      call: {
        path,
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
  const client = new Raw(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    call(req: Buffer, cb: (err: grpc.ServiceError | null) => void): void;
  };
  return new Promise((resolve) =>
    client.call(bytes, (err) => {
      client.close();
      resolve(err);
    }),
  );
}

const text = fc.string({ maxLength: 30 });
const entry = fc.record({ key: fc.oneof(fc.constantFrom("k", "a", "b", ""), text), value: text });
const descriptor = fc.record(
  {
    entries: fc.array(entry, { maxLength: 4 }),
    limit: fc.record({ requestsPerUnit: fc.nat(), unit: fc.integer({ min: 0, max: 8 }) }),
  },
  { requiredKeys: ["entries"] },
);
const rateLimitRequest = fc.record({
  domain: fc.oneof(fc.constantFrom("d", ""), text),
  descriptors: fc.array(descriptor, { maxLength: 6 }),
  hitsAddend: fc.oneof(fc.constant(0), fc.nat({ max: 1_000_000 })),
});

describe("rate-limit requests (fuzz)", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      configs: yamlConfigs(
        [
          "domain: d",
          "descriptors:",
          "  - key: k",
          "    rate_limit: { unit: minute, requests_per_unit: 50 }",
          "  - key: a",
          "    descriptors:",
          "      - key: b",
          "        rate_limit: { unit: second, requests_per_unit: 5 }",
          "",
        ].join("\n"),
      ),
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  test.prop([rateLimitRequest], { numRuns: runs(400) })(
    "answer every request with one status per descriptor, or refuse it with a named reason",
    async (request) => {
      try {
        const response = await harness.client.shouldRateLimit(request);
        expect(response.statuses).toHaveLength(request.descriptors.length);
        const over = response.statuses.some((s) => s.code === Code.OVER_LIMIT);
        expect(response.overallCode).toBe(over ? Code.OVER_LIMIT : Code.OK);
      } catch (err) {
        const e = err as grpc.ServiceError;
        expect(refusals, `${e.code}: ${e.details}`).toContain(e.code);
        expect(e.details).not.toBe("");
      }
    },
    timeoutMs(),
  );

  test.prop([fc.uint8Array({ maxLength: 200 })], { numRuns: runs(150) })(
    "refuse bytes that are not a request with a named reason, and keep serving",
    async (bytes) => {
      const err = await rawCall(
        harness.server.grpcPort,
        "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
        Buffer.from(bytes),
      );
      if (err) expect(refusals, `${err.code}: ${err.details}`).toContain(err.code);
    },
    timeoutMs(),
  );
});

const header = fc.oneof(
  fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), fc.string({ maxLength: 60 })),
  fc.tuple(
    fc.constant("authorization"),
    fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.base64String().map((b) => `Basic ${b}`),
    ),
  ),
);
const checkRequest = fc.record({
  configId: fc.constantFrom("shop", "admin", "missing", ""),
  method: fc.constantFrom("GET", "POST", "", "DELETE"),
  path: fc.oneof(fc.constantFrom("/", "/admin", "/?a=b"), fc.string({ maxLength: 80 })),
  headers: fc.array(header, { maxLength: 8 }),
  body: fc.string({ maxLength: 200 }),
});

describe("ext-auth Check requests (fuzz)", () => {
  let server: ExtAuthServer;
  let client: CheckClient;
  beforeAll(async () => {
    server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      configs: parseAuthConfigFile(
        [
          "shop:",
          "  configs:",
          "    - name: users",
          '      basicAuth: { realm: shop, users: { alice: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" } }',
          "admin:",
          '  booleanExpr: "admins && !banned"',
          "  denyResponse: { status: 404, body: nope }",
          "  configs:",
          "    - name: admins",
          '      basicAuth: { users: { root: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" } }',
          "    - name: banned",
          '      basicAuth: { users: { eve: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" } }',
          "",
        ].join("\n"),
        "fuzz.yaml",
      ),
      logger: quietLogger,
    });
    client = checkClient(server.grpcPort);
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  test.prop([checkRequest], { numRuns: runs(400) })(
    "decide every request Envoy could send: allowed or denied, never an error",
    async ({ configId, method, path, headers, body }) => {
      const response = await client.check({
        attributes: {
          contextExtensions: configId === "" ? {} : { config_id: configId },
          request: { http: { method, path, host: "fuzz.test", headers: Object.fromEntries(headers), body } },
        },
      });
      expect(["okResponse", "deniedResponse"]).toContain(response.httpResponse.case);
    },
    timeoutMs(),
  );

  test.prop([fc.uint8Array({ maxLength: 200 })], { numRuns: runs(150) })(
    "refuse bytes that are not a CheckRequest with a named reason, and keep serving",
    async (bytes) => {
      const err = await rawCall(server.grpcPort, "/envoy.service.auth.v3.Authorization/Check", Buffer.from(bytes));
      if (err) expect(refusals, `${err.code}: ${err.details}`).toContain(err.code);
    },
    timeoutMs(),
  );
});
