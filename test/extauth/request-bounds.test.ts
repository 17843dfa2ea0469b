import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { type ExtAuthServer, startExtAuthServer } from "../../src/extauth/index.js";
import { CheckRequestSchema, CheckResponseSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { AuthConfigSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { GrpcStatus } from "../../src/lib/index.js";
import { checkRequest, quietLogger } from "./helpers.js";

// What ext-auth answers for requests at the edges of what Envoy can send: strings that are not UTF-8
// (Envoy sends them when its sanitizer is off) and requests over the size limit.

const passwordHash = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="; // "password"
const configs = [
  create(AuthConfigSchema, {
    id: "shop",
    configs: [{ evaluator: { case: "basicAuth", value: { users: { alice: passwordHash } } } }],
  }),
];

const RawCheck = grpc.makeGenericClientConstructor(
  {
    check: {
      path: "/envoy.service.auth.v3.Authorization/Check",
      requestStream: false,
      responseStream: false,
      requestSerialize: (bytes: Uint8Array) => Buffer.from(bytes),
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  },
  "RawCheck",
);
type RawClient = grpc.Client & {
  check(request: Uint8Array, callback: (err: grpc.ServiceError | null, response?: Buffer) => void): void;
};

/** Sends `bytes` as the CheckRequest; the response's status code, or the gRPC error. */
async function send(port: number, bytes: Uint8Array): Promise<{ code: number } | { error: grpc.ServiceError }> {
  const client = new RawCheck(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as RawClient;
  try {
    return await new Promise((resolve) =>
      client.check(bytes, (error, response) =>
        resolve(
          error ? { error } : { code: fromBinary(CheckResponseSchema, response ?? Buffer.alloc(0)).status?.code ?? 0 },
        ),
      ),
    );
  } finally {
    client.close();
  }
}

let server: ExtAuthServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const start = (options: { maxRequestBytes?: number } = {}) =>
  startExtAuthServer({ host: "127.0.0.1", grpcPort: 0, metricsPort: 0, configs, logger: quietLogger, ...options });

describe("ext-auth at the edges of what Envoy sends", () => {
  it("decides on a request whose header values are not UTF-8, instead of failing the call", async () => {
    server = await start();
    const authorization = `Basic ${Buffer.from("alice:password").toString("base64")}`;
    const request = checkRequest({ configId: "shop", headers: { authorization, "x-bin": "a\u00ffb" } });
    // "\u00ff" is C3 BF in UTF-8; FF FE in its place is not UTF-8 and keeps every length.
    const bytes = Buffer.from(toBinary(CheckRequestSchema, request));
    const at = bytes.indexOf(Buffer.from("\u00ff"));
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    expect(() => fromBinary(CheckRequestSchema, bytes)).toThrow();
    expect(await send(server.grpcPort, bytes)).toEqual({ code: 0 });
  });

  it("answers a CheckRequest over --max-request-bytes RESOURCE_EXHAUSTED, naming the limit", async () => {
    server = await start({ maxRequestBytes: 1024 });
    const small = toBinary(CheckRequestSchema, checkRequest({ configId: "shop" }));
    expect(await send(server.grpcPort, small)).toEqual({ code: 16 });
    const big = toBinary(
      CheckRequestSchema,
      checkRequest({ configId: "shop", headers: { "x-pad": "p".repeat(2048) } }),
    );
    const answer = await send(server.grpcPort, big);
    expect("error" in answer && [answer.error.code, answer.error.details]).toEqual([
      GrpcStatus.RESOURCE_EXHAUSTED,
      "request larger than 1024 bytes",
    ]);
  });
});
