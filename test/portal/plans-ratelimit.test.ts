// Usage plans as the real `gantry ratelimit` enforces them, following a real `gantry server` over
// xDS: a bad plan (or a product listing a plan twice) is reported and left out, and the other plans
// keep being enforced; an ApiProduct's OpenAPI problems (its schema URL failing) show in its status,
// as `gantry get` prints it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitResponse_Code, RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient } from "../../src/lib/index.js";
import {
  fedServicePorts,
  type ManagedProcess,
  runGantry,
  serverPorts,
  startProcess,
  waitFor,
} from "../support/index.js";

const bin = fileURLToPath(new URL("../../bin/gantry.js", import.meta.url));
const token = "plans-ratelimit-token-0123456789abcdef";

const resources = (schemaUrl: string) => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: edge, namespace: plans }
spec:
  proxies: { labels: { gateway: plans } }
  listeners: [{ port: 8080 }]
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: pets, namespace: plans }
spec:
  hosts: [pets.example.com]
  gateways: [{ name: edge }]
  http:
    - name: pets
      matchers: [{ prefix: /v1/pets }]
      forwardTo: { destinations: [{ destination: { name: pets } }] }
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: pets, namespace: plans }
spec:
  ports: [{ number: 8080 }]
  endpoints: [{ address: 10.0.0.9 }]
---
apiVersion: gantry/v1
kind: UsagePlan
metadata: { name: free, namespace: plans }
spec: { limits: { perMinute: 3 } }
---
apiVersion: gantry/v1
kind: UsagePlan
metadata: { name: broken, namespace: plans }
spec: { limits: {} }
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: pets, namespace: plans }
spec:
  routeTables: [{ name: pets }]
  usagePlans: [{ name: free }, { name: broken }, { name: free }]
  openapi: { url: { url: "${schemaUrl}", refreshInterval: 1s } }
`;

describe("usage plans at the real rate-limit server", { timeout: 120_000 }, () => {
  const processes: ManagedProcess[] = [];
  let dir: string;
  let schema: Server;
  let schemaAnswer = { status: 500, body: "down" };
  let schemaUrl = "";
  let apiPort: number;
  let ratelimitPort: number;
  let tokenFile: string;
  let ratelimit: ReturnType<typeof createClient<(typeof RateLimitService)["method"]>> | undefined;

  const gantry = async (name: string, args: string[], readyz: string) => {
    const proc = await startProcess({
      name,
      command: process.execPath,
      args: [bin, ...args],
      env: { ...process.env, GANTRY_LOG_LEVEL: "warn" },
      ready: () =>
        fetch(readyz).then(
          (r) => r.ok,
          () => false,
        ),
      readyTimeoutMs: 60_000,
    });
    processes.push(proc);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-plans-"));
    schema = createServer((_req, res) => res.writeHead(schemaAnswer.status).end(schemaAnswer.body));
    await new Promise<void>((resolve) => schema.listen(0, "127.0.0.1", resolve));
    schemaUrl = `http://127.0.0.1:${(schema.address() as AddressInfo).port}/openapi.yaml`;
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, token);
    const server = await serverPorts();
    apiPort = server.api;
    const local = ["--host", "127.0.0.1"];
    await gantry(
      "gantry server",
      ["server", ...local, ...server.flags, "--api-token-file", tokenFile],
      `http://127.0.0.1:${server.metrics}/readyz`,
    );
    const file = join(dir, "plans.yaml");
    writeFileSync(file, resources(schemaUrl));
    const applied = await runGantry([
      "apply",
      "-f",
      file,
      "--server",
      `http://127.0.0.1:${apiPort}`,
      "--token-file",
      tokenFile,
    ]);
    expect(applied.stdout + applied.stderr).toContain("UsagePlan/plans/broken");
    const rls = await fedServicePorts(server.xds);
    ratelimitPort = rls.grpc;
    await gantry("gantry ratelimit", ["ratelimit", ...local, ...rls.flags], `http://127.0.0.1:${rls.metrics}/readyz`);
    ratelimit = createClient(RateLimitService, `127.0.0.1:${ratelimitPort}`);
  }, 120_000);

  afterAll(async () => {
    ratelimit?.close();
    for (const proc of processes.reverse()) await proc.stop();
    await new Promise((resolve) => schema?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = async (kind: string, name: string) => {
    const result = await runGantry([
      "get",
      kind,
      name,
      "-n",
      "plans",
      "-o",
      "json",
      "--server",
      `http://127.0.0.1:${apiPort}`,
      "--token-file",
      tokenFile,
    ]);
    expect(result.code).toBe(0);
    const { state, messages } = (JSON.parse(result.stdout) as { status: { state: string; messages: string[] } }).status;
    return { state, messages };
  };

  /** One request of one key on one plan, as Envoy describes it from ext-auth's metadata. */
  const call = async (plan: string, key: string) => {
    const answer = await (ratelimit as NonNullable<typeof ratelimit>).shouldRateLimit({
      domain: "gantry-portal",
      descriptors: [
        {
          entries: [
            { key: "portal_product", value: "plans/pets" },
            { key: "portal_plan", value: plan },
            { key: "api_key", value: key },
          ],
        },
      ],
      hitsAddend: 1,
    });
    return answer.overallCode;
  };

  it("enforces the good plan while the bad one is reported and left out", async () => {
    // The rate-limit server has the plans' domain once it follows the server (before: no config, or no rule).
    await waitFor(async () => (await call("plans/free", "warm-up")) === RateLimitResponse_Code.OVER_LIMIT, {
      timeoutMs: 30_000,
      what: "the free plan enforced",
    });
    // A minute's window may end midway: at most the limit plus one in each of two windows.
    const codes: RateLimitResponse_Code[] = [];
    while (codes.at(-1) !== RateLimitResponse_Code.OVER_LIMIT && codes.length <= 2 * 3 + 1)
      codes.push(await call("plans/free", "k1"));
    expect(codes.at(-1)).toBe(RateLimitResponse_Code.OVER_LIMIT);
    expect(codes.slice(0, -1).every((c) => c === RateLimitResponse_Code.OK)).toBe(true);
    expect(codes.length).toBeGreaterThanOrEqual(4);
    // Another key counts on its own; the left-out plan has no rule, so nothing limits it.
    expect(await call("plans/free", "k2")).toBe(RateLimitResponse_Code.OK);
    expect(await call("plans/broken", "k1")).toBe(RateLimitResponse_Code.OK);
    expect(await get("usageplan", "broken")).toEqual({
      state: "INVALID",
      messages: ["spec.limits: at least one of perSecond, perMinute, perDay, perMonth is required"],
    });
    expect(await get("usageplan", "free")).toEqual({ state: "ACCEPTED", messages: [] });
  });

  it("shows the product's OpenAPI problems in its status, and follows the schema URL as it recovers", async () => {
    const plans = [
      "spec.usagePlans[1]: UsagePlan plans/broken is invalid; not offered",
      "spec.usagePlans[2]: UsagePlan plans/free is already listed at spec.usagePlans[0]",
    ];
    await waitFor(async () => (await get("apiproduct", "pets")).messages.length > 2, {
      timeoutMs: 30_000,
      what: "the schema URL's check",
    });
    expect(await get("apiproduct", "pets")).toEqual({
      state: "WARNING",
      messages: [...plans, `spec.openapi.url ${schemaUrl}: cannot read: answered HTTP 500`],
    });
    schemaAnswer = {
      status: 200,
      body: 'openapi: 3.0.3\ninfo: { title: Pets, version: "1" }\nservers: [{ url: /v1 }]\npaths:\n  /pets:\n    get: { responses: { "200": { description: ok } } }\n  /orders:\n    get: { responses: { "200": { description: ok } } }\n',
    };
    await waitFor(async () => !JSON.stringify(await get("apiproduct", "pets")).includes("HTTP 500"), {
      timeoutMs: 30_000,
      what: "the schema URL read again",
    });
    expect(await get("apiproduct", "pets")).toEqual({
      state: "WARNING",
      messages: [...plans, "spec.openapi: operation GET /v1/orders: no route of the product's route tables serves it"],
    });
    const described = await runGantry([
      "describe",
      "apiproduct",
      "pets",
      "-n",
      "plans",
      "--server",
      `http://127.0.0.1:${apiPort}`,
      "--token-file",
      tokenFile,
    ]);
    expect(described.stdout).toContain("operation GET /v1/orders: no route of the product's route tables serves it");
  });
});
