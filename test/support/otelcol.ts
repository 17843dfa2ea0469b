import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts, isListening } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";

/** One span as the collector's file exporter wrote it (OTLP JSON), flattened. */
export interface CollectedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number; message?: string };
}

export interface Collector {
  /** OTLP/HTTP traces endpoint for exporters. */
  readonly tracesUrl: string;
  /** OTLP/gRPC endpoint, host:port. */
  readonly grpcEndpoint: string;
  /** Every span written so far. */
  spans(): CollectedSpan[];
  stop(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}

function value(v: OtlpValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v.boolValue ?? "";
}

/** Starts the real OpenTelemetry Collector (test/observability/otelcol) with a file exporter. */
export async function startCollector(binary: string): Promise<Collector> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-otelcol-"));
  const [httpPort, grpcPort] = await freePorts(2);
  const out = join(dir, "spans.jsonl");
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    [
      "receivers:",
      `  otlp: { protocols: { http: { endpoint: "127.0.0.1:${httpPort}" }, grpc: { endpoint: "127.0.0.1:${grpcPort}" } } }`,
      "exporters:",
      // Flushed on every batch so that tests read spans as soon as they are exported.
      `  file: { path: ${JSON.stringify(out)}, format: json, flush_interval: 100ms }`,
      "service:",
      "  pipelines:",
      "    traces: { receivers: [otlp], exporters: [file] }",
      "  telemetry: { metrics: { level: none } }",
      "",
    ].join("\n"),
  );
  let proc: ManagedProcess;
  try {
    proc = await startProcess({
      name: "otelcol",
      command: binary,
      args: ["--config", `file:${config}`],
      ready: async () => (await isListening(httpPort)) && (await isListening(grpcPort)),
      readyTimeoutMs: 20_000,
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    tracesUrl: `http://127.0.0.1:${httpPort}/v1/traces`,
    grpcEndpoint: `127.0.0.1:${grpcPort}`,
    spans() {
      if (!existsSync(out)) return [];
      const spans: CollectedSpan[] = [];
      for (const line of readFileSync(out, "utf8").split("\n")) {
        if (!line.trim()) continue;
        const batch = JSON.parse(line) as {
          resourceSpans?: Array<{
            resource?: { attributes?: Array<{ key: string; value: OtlpValue }> };
            scopeSpans?: Array<{
              spans?: Array<{
                traceId: string;
                spanId: string;
                parentSpanId?: string;
                name: string;
                attributes?: Array<{ key: string; value: OtlpValue }>;
                status?: { code?: number; message?: string };
              }>;
            }>;
          }>;
        };
        for (const rs of batch.resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a) => a.key === "service.name");
          for (const ss of rs.scopeSpans ?? []) {
            for (const span of ss.spans ?? []) {
              spans.push({
                service: service ? String(value(service.value)) : "",
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId ?? "",
                name: span.name,
                attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, value(a.value)])),
                status: span.status ?? {},
              });
            }
          }
        }
      }
      return spans;
    },
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the collector on one of the shipped configs (deploy/otel) as it is, its listening addresses
 * and upstreams given by the environment variables the config reads.
 */
export async function startShippedCollector(
  binary: string,
  config: string,
  env: Record<string, string>,
  readyPort: number,
): Promise<ManagedProcess> {
  return startProcess({
    name: `otelcol ${config}`,
    command: binary,
    args: ["--config", `file:${config}`],
    env: { ...process.env, ...env },
    ready: () => isListening(readyPort),
    readyTimeoutMs: 20_000,
  });
}
