import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuthConfigError,
  type CheckContext,
  type Evaluator,
  type EvaluatorDeps,
} from "../../../src/extauth/evaluator.js";
import { passThroughAuthFactory } from "../../../src/extauth/evaluators/passthrough/index.js";
import { startExtAuthServer } from "../../../src/extauth/index.js";
import {
  Authorization,
  type CheckRequest,
  CheckRequestSchema,
} from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusCode } from "../../../src/gen/envoy/type/v3/http_status_pb.js";
import { AuthConfigSchema } from "../../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { type PassThroughAuth, PassThroughAuthSchema } from "../../../src/gen/gantry/extauth/v1/pass_through_pb.js";
import {
  createLogger,
  GrpcError,
  GrpcServer,
  GrpcStatus,
  ManualClock,
  systemClock,
  type Timers,
} from "../../../src/lib/index.js";
import { freePort, waitFor } from "../../support/index.js";
import { checkClient, checkRequest, quietLogger, summary } from "../helpers.js";

function checkContext(headers: Record<string, string>, body = "", signal = new AbortController().signal): CheckContext {
  const request = create(CheckRequestSchema, {
    attributes: {
      request: { http: { method: "POST", path: "/orders?id=7", host: "shop.example.com", headers, body } },
      contextExtensions: { config_id: "shop" },
    },
  });
  return { request, headers, state: new Map(), signal };
}

const deps: EvaluatorDeps = {
  clock: systemClock,
  logger: createLogger({ service: "test", level: "silent" }),
  redis: undefined,
  baseDir: "/",
};
const field = "configs[3].passThroughAuth";
const settings = (init: Parameters<typeof create<typeof PassThroughAuthSchema>>[1]): PassThroughAuth =>
  create(PassThroughAuthSchema, init);

describe("gRPC pass-through to a real second ext_authz server", () => {
  let server: GrpcServer;
  let address: string;
  let evaluator: Evaluator;
  const received: CheckRequest[] = [];
  const held: Array<() => void> = [];

  beforeAll(async () => {
    server = new GrpcServer().add(Authorization, {
      check: async (request) => {
        received.push(request);
        const headers = request.attributes?.request?.http?.headers ?? {};
        if (headers["x-hold"]) await new Promise<void>((resolve) => held.push(resolve));
        if (headers["x-fail"]) throw new GrpcError(GrpcStatus.UNAVAILABLE, "backend down");
        if (headers["x-token"] === "good") {
          return {
            status: { code: 0 },
            httpResponse: {
              case: "okResponse",
              value: {
                headers: [
                  { header: { key: "x-user", value: "alice" } },
                  { header: { key: "x-tag", value: "b" }, append: true },
                ],
                headersToRemove: ["x-token"],
                responseHeadersToAdd: [{ header: { key: "x-served-by", value: "second" } }],
                queryParametersToSet: [{ key: "tenant", value: "t1" }],
              },
            },
            dynamicMetadata: { user: "alice" },
          };
        }
        return {
          status: { code: GrpcStatus.PERMISSION_DENIED },
          httpResponse: {
            case: "deniedResponse",
            value: {
              status: { code: StatusCode.Unauthorized },
              headers: [{ header: { key: "www-authenticate", value: "Bearer" } }],
              body: "token required",
            },
          },
        };
      },
    });
    const port = await server.listen("127.0.0.1", 0);
    address = `127.0.0.1:${port}`;
    evaluator = await passThroughAuthFactory(
      settings({ service: { case: "grpc", value: { address } }, timeoutMs: 2_000 }),
      deps,
      field,
    );
  });

  afterAll(async () => {
    for (const release of held) release();
    await evaluator?.close?.();
    await server?.shutdown(1_000);
  });

  it("forwards the CheckRequest unchanged and takes the allow with everything it carries", async () => {
    const context = checkContext({ "x-token": "good" }, '{"qty":1}');
    expect(await evaluator.evaluate(context)).toEqual({
      kind: "allow",
      headers: [
        { name: "x-user", value: "alice" },
        { name: "x-tag", value: "b", append: true },
      ],
      headersToRemove: ["x-token"],
      responseHeaders: [{ name: "x-served-by", value: "second" }],
      queryParametersToSet: [{ key: "tenant", value: "t1" }],
      dynamicMetadata: { user: "alice" },
    });
    const forwarded = received.at(-1);
    expect(forwarded?.attributes?.request?.http?.body).toBe('{"qty":1}');
    expect(forwarded?.attributes?.contextExtensions).toEqual({ config_id: "shop" });
  });

  it("takes a denial with its status, headers and body", async () => {
    expect(await evaluator.evaluate(checkContext({ "x-token": "bad" }))).toEqual({
      kind: "deny",
      status: 401,
      reason: `denied by ${address}`,
      headers: [{ name: "www-authenticate", value: "Bearer" }],
      body: "token required",
    });
  });

  it("reports an error when the server fails, does not answer in time, or is not there", async () => {
    expect(await evaluator.evaluate(checkContext({ "x-fail": "1" }))).toMatchObject({
      kind: "error",
      reason: expect.stringMatching(/backend down/),
    });
    const impatient = await passThroughAuthFactory(
      settings({ service: { case: "grpc", value: { address } }, timeoutMs: 200 }),
      deps,
      field,
    );
    expect(await impatient.evaluate(checkContext({ "x-hold": "1" }))).toMatchObject({
      kind: "error",
      reason: expect.stringMatching(/Deadline exceeded/i),
    });
    await impatient.close?.();
    const cancelled = new AbortController();
    const pending = evaluator.evaluate(checkContext({ "x-hold": "1" }, "", cancelled.signal));
    cancelled.abort();
    expect(await pending).toMatchObject({ kind: "error", reason: expect.stringMatching(/cancelled/) });
    const nowhere = await passThroughAuthFactory(
      settings({ service: { case: "grpc", value: { address: `127.0.0.1:${await freePort()}` } }, timeoutMs: 300 }),
      deps,
      field,
    );
    expect(await nowhere.evaluate(checkContext({ "x-token": "good" }))).toMatchObject({ kind: "error" });
    await nowhere.close?.();
  });
});

describe("gRPC pass-through through a real Check call", () => {
  it("answers as the second server answers", async () => {
    const second = new GrpcServer().add(Authorization, {
      check: (request) =>
        request.attributes?.request?.http?.headers["x-token"] === "good"
          ? {
              status: { code: 0 },
              httpResponse: { case: "okResponse", value: { headers: [{ header: { key: "x-user", value: "alice" } }] } },
            }
          : { status: { code: GrpcStatus.PERMISSION_DENIED } },
    });
    const address = `127.0.0.1:${await second.listen("127.0.0.1", 0)}`;
    const server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      configs: [
        create(AuthConfigSchema, {
          id: "relay",
          configs: [
            {
              name: "second",
              evaluator: { case: "passThroughAuth", value: { service: { case: "grpc", value: { address } } } },
            },
          ],
        }),
      ],
      logger: quietLogger,
    });
    const client = checkClient(server.grpcPort);
    try {
      const check = async (headers: Record<string, string>) =>
        summary(await client.check(checkRequest({ configId: "relay", headers })));
      expect(await check({ "x-token": "good" })).toMatchObject({ allowed: true, headers: { "x-user": "alice" } });
      expect(await check({ "x-token": "bad" })).toMatchObject({
        allowed: false,
        httpStatus: 403,
        metadata: { step: "second", reason: `denied by ${address}` },
      });
    } finally {
      client.close();
      await server.stop();
      await second.shutdown(1_000);
    }
  });
});

interface Recorded {
  headers: IncomingMessage["headers"];
  body: unknown;
}

describe("HTTP pass-through to a real HTTP service", () => {
  let server: Server;
  let url: string;
  const recorded: Recorded[] = [];
  const held: ServerResponse[] = [];

  const answer = (request: IncomingMessage, response: ServerResponse, body: string) => {
    recorded.push({ headers: request.headers, body: JSON.parse(body) });
    switch (request.headers["x-case"]) {
      case "allow":
        response.writeHead(200, { "content-type": "application/json", "x-user": "alice", "x-internal": "secret" });
        response.end(JSON.stringify({ state: { tier: "gold" } }));
        return;
      case "allow-not-json":
        response.writeHead(200, { "x-user": "bob" });
        response.end("fine");
        return;
      case "redirect":
        response.writeHead(302, { location: "https://login.example.com/", "x-internal": "secret" });
        response.end();
        return;
      case "broken":
        response.writeHead(503);
        response.end();
        return;
      case "hold":
        held.push(response);
        return;
      default:
        response.writeHead(401, { "www-authenticate": 'Basic realm="shop"', "x-internal": "secret" });
        response.end("no");
    }
  };

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => answer(request, response, Buffer.concat(chunks).toString("utf8")));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth`;
  });

  afterAll(async () => {
    for (const response of held) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const httpEvaluator = (timeoutMs = 2_000, clock: Timers = systemClock) =>
    passThroughAuthFactory(
      settings({
        service: {
          case: "http",
          value: {
            url,
            request: {
              allowedHeaders: ["X-Case", "authorization"],
              headersToAdd: { "x-from": "gantry" },
              passThroughState: true,
              passThroughBody: true,
            },
            response: {
              allowedUpstreamHeaders: ["x-user"],
              allowedClientHeadersOnDenied: ["www-authenticate", "location"],
              readStateFromResponse: true,
            },
          },
        },
        config: { plan: "premium" },
        timeoutMs,
      }),
      { ...deps, clock },
      field,
    );

  it("POSTs body, state and config with the allowed headers, and allows on 2xx", async () => {
    const evaluator = await httpEvaluator();
    const context = checkContext({ "x-case": "allow", authorization: "Bearer t", cookie: "not-allowed" }, "payload");
    context.state.set("ldap", { username: "alice" });
    context.state.set("live", { toJSON: () => undefined });
    expect(await evaluator.evaluate(context)).toEqual({ kind: "allow", headers: [{ name: "x-user", value: "alice" }] });
    expect(context.state.get("tier")).toBe("gold");
    const call = recorded.at(-1);
    expect(call?.headers).toMatchObject({ "x-case": "allow", authorization: "Bearer t", "x-from": "gantry" });
    expect(call?.headers["cookie"]).toBeUndefined();
    expect(call?.body).toEqual({
      body: "payload",
      state: { ldap: { username: "alice" } },
      config: { plan: "premium" },
    });
    const notJson = checkContext({ "x-case": "allow-not-json" });
    expect(await evaluator.evaluate(notJson)).toEqual({ kind: "allow", headers: [{ name: "x-user", value: "bob" }] });
    expect(notJson.state.size).toBe(0);
  });

  it("denies on 3xx and 4xx with the allowed client headers", async () => {
    const evaluator = await httpEvaluator();
    expect(await evaluator.evaluate(checkContext({ "x-case": "nope" }))).toEqual({
      kind: "deny",
      status: 401,
      reason: `denied by ${url} (HTTP 401)`,
      headers: [{ name: "www-authenticate", value: 'Basic realm="shop"' }],
    });
    expect(await evaluator.evaluate(checkContext({ "x-case": "redirect" }))).toMatchObject({
      kind: "deny",
      status: 302,
      headers: [{ name: "location", value: "https://login.example.com/" }],
    });
  });

  it("reports an error on 5xx, on a timeout and when the service is not there", async () => {
    expect(await (await httpEvaluator()).evaluate(checkContext({ "x-case": "broken" }))).toEqual({
      kind: "error",
      reason: `pass-through to ${url} answered 503`,
    });
    const clock = new ManualClock(0);
    const holding = held.length;
    const timedOut = (await httpEvaluator(200, clock)).evaluate(checkContext({ "x-case": "hold" }));
    await waitFor(() => held.length > holding, { what: "the call to reach the service" });
    clock.advance(200);
    expect(await timedOut).toEqual({ kind: "error", reason: `pass-through to ${url} failed: timed out` });
    const nowhere = await passThroughAuthFactory(
      settings({ service: { case: "http", value: { url: `http://127.0.0.1:${await freePort()}/` } } }),
      deps,
      field,
    );
    expect(await nowhere.evaluate(checkContext({}))).toMatchObject({
      kind: "error",
      reason: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});

describe("pass-through settings", () => {
  it("rejects bad settings naming the field", async () => {
    const failure = async (init: Parameters<typeof settings>[0]) => {
      try {
        await passThroughAuthFactory(settings(init), deps, field);
      } catch (err) {
        expect(err).toBeInstanceOf(AuthConfigError);
        return (err as Error).message;
      }
      throw new Error("expected an AuthConfigError");
    };
    expect(await failure({})).toBe("configs[3].passThroughAuth: give grpc or http");
    expect(await failure({ service: { case: "grpc", value: { address: "nowhere" } } })).toMatch(
      /^configs\[3\]\.passThroughAuth\.grpc\.address: "nowhere" is not host:port/,
    );
    expect(await failure({ service: { case: "http", value: { url: "auth.local/check" } } })).toMatch(
      /^configs\[3\]\.passThroughAuth\.http\.url: /,
    );
    expect(await failure({ service: { case: "http", value: { url: "ftp://auth.local/" } } })).toMatch(
      /^configs\[3\]\.passThroughAuth\.http\.url: must be an http/,
    );
    expect(
      await failure({ service: { case: "http", value: { url: "http://a/", request: { allowedHeaders: [":path"] } } } }),
    ).toMatch(/^configs\[3\]\.passThroughAuth\.http\.request\.allowedHeaders\[0\]: :path cannot be sent/);
    expect(
      await failure({
        service: { case: "http", value: { url: "http://a/", request: { headersToAdd: { Host: "x" } } } },
      }),
    ).toMatch(/^configs\[3\]\.passThroughAuth\.http\.request\.headersToAdd\.Host: /);
  });
});
