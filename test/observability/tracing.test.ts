import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExtAuthServer, startExtAuthServer } from "../../src/extauth/index.js";
import { RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { AuthConfigSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { createClient, createLogger, createRegistry } from "../../src/lib/index.js";
import { type RateLimitServer, startRateLimitServer } from "../../src/ratelimit/index.js";
import { startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { checkClient, checkRequest } from "../extauth/helpers.js";
import { yamlConfigs } from "../ratelimit/harness.js";
import { freePorts, type ManagedProcess, needTool, runGantry, waitFor } from "../support/index.js";
import { type CollectedSpan, type Collector, startCollector, startShippedCollector } from "../support/otelcol.js";

// Spans from the ext-auth and rate-limit servers, exported over OTLP to a real OpenTelemetry
// Collector (test/observability/otelcol, built by scripts/test-prereqs.mjs) and read back from its
// file exporter: each continues the trace its caller started, with the caller's span as parent.

const collectorBin = needTool("gantry-otelcol", "run: CI=true node scripts/test-prereqs.mjs (builds it with Go)");
const quiet = createLogger({ service: "tracing-test", level: "silent" });
const passwordHash = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="; // "password"
const basic = { authorization: `Basic ${Buffer.from("alice:password").toString("base64")}` };

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const traceparent = (traceId: string, spanId: string, sampled = true) =>
  `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;

function metadata(entries: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}

describe.skipIf(!collectorBin)("tracing to a real OpenTelemetry Collector", () => {
  let collector: Collector;
  let extauth: ExtAuthServer;
  let ratelimit: RateLimitServer;

  const spansOf = (traceId: string) => collector.spans().filter((s) => s.traceId === traceId);
  const waitForSpans = (traceId: string, count: number) =>
    waitFor(
      () => {
        const spans = spansOf(traceId);
        return spans.length >= count ? spans : undefined;
      },
      { timeoutMs: 10_000, what: `${count} spans of trace ${traceId}` },
    );

  beforeAll(async () => {
    collector = await startCollector(collectorBin as string);
    // Ratio 0: only requests whose caller sampled them are traced (parent-based sampling).
    const tracing = { endpoint: collector.tracesUrl, sampleRatio: 0, serviceName: "gantry-extauth" };
    extauth = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      logger: quiet,
      tracing,
      configs: [],
    });
    await extauth.setConfigs([
      create(AuthConfigSchema, {
        id: "shop",
        configs: [{ name: "users", evaluator: { case: "basicAuth", value: { users: { alice: passwordHash } } } }],
      }),
    ]);
    ratelimit = await startRateLimitServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      logger: quiet,
      tracing: { ...tracing, serviceName: "gantry-ratelimit" },
      configs: yamlConfigs(
        "domain: api\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 1 }\n",
      ),
    });
  }, 60_000);

  afterAll(async () => {
    await extauth?.stop();
    await ratelimit?.stop();
    await collector?.stop();
  });

  it("a Check continues the trace in its gRPC metadata, with a child span per step", async () => {
    const client = checkClient(extauth.grpcPort);
    const traceId = hex(16);
    const parent = hex(8);
    try {
      const response = await client.check(
        checkRequest({ configId: "shop", headers: basic, path: "/cart?token=s3cret" }),
        {
          metadata: metadata({ traceparent: traceparent(traceId, parent) }),
        },
      );
      expect(response.status?.code).toBe(0);
    } finally {
      client.close();
    }
    const spans = await waitForSpans(traceId, 2);
    const check = spans.find((s) => s.name === "ext_authz Check") as CollectedSpan;
    expect(check).toBeDefined();
    expect(check.parentSpanId).toBe(parent);
    expect(check.service).toBe("gantry-extauth");
    expect(check.attributes).toMatchObject({
      "gantry.config_id": "shop",
      "gantry.decision": "allow",
      "http.request.method": "GET",
      // The query string can hold credentials: only the path is recorded.
      "url.path": "/cart",
    });
    const step = spans.find((s) => s.name === "step users") as CollectedSpan;
    expect(step.parentSpanId).toBe(check.spanId);
    expect(step.attributes).toMatchObject({ "gantry.evaluator": "basicAuth", "gantry.verdict": "allow" });
    // No header value reaches a span.
    expect(JSON.stringify(spans)).not.toContain(basic.authorization.slice(6));
  });

  it("takes the parent from the checked request's B3 headers when the call carries none", async () => {
    const client = checkClient(extauth.grpcPort);
    const traceId = hex(16);
    const parent = hex(8);
    try {
      const headers = { ...basic, "x-b3-traceid": traceId, "x-b3-spanid": parent, "x-b3-sampled": "1" };
      const response = await client.check(
        checkRequest({ configId: "shop", headers: { ...headers, authorization: "x" } }),
      );
      expect(response.status?.code).not.toBe(0);
    } finally {
      client.close();
    }
    const [check] = (await waitForSpans(traceId, 2)).filter((s) => s.name === "ext_authz Check");
    expect(check?.parentSpanId).toBe(parent);
    expect(check?.attributes["gantry.decision"]).toBe("deny");
    expect(check?.attributes["gantry.step"]).toBe("users");
  });

  it("a ShouldRateLimit span has the counter round trip as a child", async () => {
    const client = createClient(RateLimitService, `127.0.0.1:${ratelimit.grpcPort}`);
    const traceId = hex(16);
    const parent = hex(8);
    try {
      await client.shouldRateLimit(
        { domain: "api", hitsAddend: 1, descriptors: [{ entries: [{ key: "user", value: "ann" }] }] },
        { metadata: metadata({ traceparent: traceparent(traceId, parent) }) },
      );
    } finally {
      client.close();
    }
    const spans = await waitForSpans(traceId, 2);
    const call = spans.find((s) => s.name === "ratelimit ShouldRateLimit") as CollectedSpan;
    expect(call.parentSpanId).toBe(parent);
    expect(call.service).toBe("gantry-ratelimit");
    expect(call.attributes).toMatchObject({
      "gantry.ratelimit.domain": "api",
      "gantry.ratelimit.descriptors": 1,
      "gantry.ratelimit.overall_code": "OK",
    });
    const counter = spans.find((s) => s.name === "ratelimit counter") as CollectedSpan;
    expect(counter.parentSpanId).toBe(call.spanId);
    expect(counter.attributes["gantry.ratelimit.over_limit"]).toBe(false);
  });

  it("records nothing for a call whose caller did not sample it, or that carries no trace at ratio 0", async () => {
    const client = createClient(RateLimitService, `127.0.0.1:${ratelimit.grpcPort}`);
    const dropped = hex(16);
    const marker = hex(16);
    try {
      const request = { domain: "api", hitsAddend: 1, descriptors: [{ entries: [{ key: "user", value: "bob" }] }] };
      await client.shouldRateLimit(request, {
        metadata: metadata({ traceparent: traceparent(dropped, hex(8), false) }),
      });
      await client.shouldRateLimit(request);
      // A sampled call after them: once its spans are exported, the earlier ones would have been too.
      await client.shouldRateLimit(request, { metadata: metadata({ traceparent: traceparent(marker, hex(8)) }) });
    } finally {
      client.close();
    }
    // Over its limit by now: answered from the over-limit cache, so one span and no counter round trip.
    const [marked] = await waitForSpans(marker, 1);
    expect(marked?.attributes["gantry.ratelimit.overall_code"]).toBe("OVER_LIMIT");
    expect(spansOf(dropped)).toEqual([]);
    const traces = new Set(collector.spans().map((s) => s.traceId));
    const unsampledRoot = collector.spans().filter((s) => s.name === "ratelimit ShouldRateLimit" && !s.parentSpanId);
    expect(unsampledRoot).toEqual([]);
    expect(traces.has(marker)).toBe(true);
  });

  it("the management server traces each translation and publication", async () => {
    const store = new MemoryStore();
    const server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      logger: quiet,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
      tracing: { endpoint: collector.tracesUrl, sampleRatio: 1, serviceName: "gantry-server" },
    });
    try {
      await store.apply([
        {
          apiVersion: "gantry/v1",
          kind: "Destination",
          metadata: { name: "orders", namespace: "default" },
          spec: { ports: [{ number: 8080 }], endpoints: [{ address: "10.0.0.1" }] },
        },
      ]);
      const run = await waitFor(
        () =>
          collector
            .spans()
            .find(
              (s) =>
                s.service === "gantry-server" &&
                s.name === "translate and publish" &&
                s.attributes["gantry.revision"] === 1,
            ),
        { timeoutMs: 10_000, what: "the span of revision 1's translation" },
      );
      const children = await waitFor(() => {
        const found = collector.spans().filter((s) => s.parentSpanId === run.spanId);
        return found.length >= 2 ? found : undefined;
      });
      expect(children.map((c) => c.name).sort()).toEqual(["publish", "translate"]);
      expect(children.find((c) => c.name === "translate")?.attributes["gantry.resources"]).toBe(1);
    } finally {
      await server.stop();
    }
  });

  it("refuses a tracing endpoint that is not an http(s) URL, naming the flag", async () => {
    const result = await runGantry(["ratelimit", "--tracing-endpoint", "collector:4317"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("--tracing-endpoint");
    const ratio = await runGantry([
      "extauth",
      "--tracing-endpoint",
      collector.tracesUrl,
      "--tracing-sample-ratio",
      "2",
    ]);
    expect(ratio.code).not.toBe(0);
    expect(ratio.stderr).toContain("--tracing-sample-ratio");
  });
});

describe.skipIf(!collectorBin)(
  "the shipped collector pipeline (deploy/otel): workload → gateway → trace backend",
  () => {
    it("carries a Check's span from gantry extauth through both collectors to the backend", async () => {
      const backend = await startCollector(collectorBin as string);
      const deploy = new URL("../../deploy/otel/", import.meta.url).pathname;
      const [gatewayGrpc, gatewayProm, workloadGrpc, workloadHttp] = await freePorts(4);
      const started: ManagedProcess[] = [];
      let extauth: ExtAuthServer | undefined;
      try {
        started.push(
          await startShippedCollector(
            collectorBin as string,
            `${deploy}gateway.yaml`,
            {
              OTLP_GRPC_LISTEN: `127.0.0.1:${gatewayGrpc}`,
              PROMETHEUS_LISTEN: `127.0.0.1:${gatewayProm}`,
              OTEL_TRACES_BACKEND: backend.grpcEndpoint,
            },
            gatewayGrpc,
          ),
        );
        started.push(
          await startShippedCollector(
            collectorBin as string,
            `${deploy}workload.yaml`,
            {
              OTLP_GRPC_LISTEN: `127.0.0.1:${workloadGrpc}`,
              OTLP_HTTP_LISTEN: `127.0.0.1:${workloadHttp}`,
              OTEL_GATEWAY_ENDPOINT: `127.0.0.1:${gatewayGrpc}`,
            },
            workloadHttp,
          ),
        );
        extauth = await startExtAuthServer({
          host: "127.0.0.1",
          grpcPort: 0,
          metricsPort: 0,
          logger: quiet,
          tracing: {
            endpoint: `http://127.0.0.1:${workloadHttp}/v1/traces`,
            sampleRatio: 1,
            serviceName: "gantry-extauth",
          },
          configs: [],
        });
        const client = checkClient(extauth.grpcPort);
        const traceId = hex(16);
        try {
          await client.check(checkRequest({ configId: "none" }), {
            metadata: metadata({ traceparent: traceparent(traceId, hex(8)) }),
          });
        } finally {
          client.close();
        }
        const span = await waitFor(() => backend.spans().find((s) => s.traceId === traceId), {
          timeoutMs: 20_000,
          what: "the span at the trace backend",
        });
        expect(span.name).toBe("ext_authz Check");
        expect(span.service).toBe("gantry-extauth");
        expect(span.attributes["gantry.decision"]).toBe("unknown_config");
        // The gateway's Prometheus exporter answers for Prometheus to scrape.
        expect((await fetch(`http://127.0.0.1:${gatewayProm}/metrics`)).ok).toBe(true);
      } finally {
        await extauth?.stop();
        for (const proc of started.reverse()) await proc.stop();
        await backend.stop();
      }
    }, 90_000);
  },
);
