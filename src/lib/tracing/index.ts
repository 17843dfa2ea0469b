// Tracing for Gantry's processes: spans that continue the trace a caller started (W3C `traceparent`,
// B3 single and multi header), exported over OTLP by OpenTelemetry's JS SDK.
//
// The data-plane servers sit on the request path of every call through Envoy, so tracing must cost
// nothing when it is off and little when a request is not sampled: `noTracing` is a constant whose
// `startServerSpan` returns undefined, the SDK is only loaded (dynamic import) when tracing is
// enabled, and a request the sampler drops gets no span object at all — callers hold `undefined`
// and every child span, attribute and event on it is skipped by `?.`.

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** Where a caller's trace context may be: a header map with lower-case names (HTTP headers, gRPC metadata). */
export type HeaderCarrier = Readonly<Record<string, string | undefined>>;

/** One span of a sampled request. Children continue its trace. */
export interface RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** A child span, started now. */
  child(name: string, attributes?: Attributes): RequestSpan;
  setAttribute(key: string, value: AttributeValue): void;
  addEvent(name: string, attributes?: Attributes): void;
  /** Marks the span failed, with a message (never a secret). */
  fail(message: string): void;
  end(): void;
}

export interface Tracing {
  readonly enabled: boolean;
  /**
   * Starts the span of one served request. Its parent is the first trace context found in `carriers`
   * (in order: W3C `traceparent`, then B3); without one it starts a trace. Undefined when tracing is
   * off or the sampler drops the request.
   */
  startServerSpan(
    name: string,
    carriers: readonly (HeaderCarrier | undefined)[],
    /** Set once the request is sampled; a function is called only then. */
    attributes?: Attributes | (() => Attributes),
  ): RequestSpan | undefined;
  /** A span with no remote parent (background work: a translation, a push). */
  startSpan(name: string, attributes?: Attributes): RequestSpan | undefined;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export const noTracing: Tracing = Object.freeze({
  enabled: false,
  startServerSpan: () => undefined,
  startSpan: () => undefined,
  shutdown: async () => {},
});

export interface TracingOptions {
  /** The OTLP/HTTP traces endpoint, e.g. `http://collector:4318/v1/traces`. */
  endpoint: string;
  /** The fraction of traces started here that are kept, 0..1. A caller's sampled flag is followed. */
  sampleRatio: number;
  /** `service.name` on every span. */
  serviceName: string;
  /** `service.version`. */
  serviceVersion?: string;
  /** Most spans buffered for export; past it spans are dropped (counted by the SDK), never blocking a request. */
  maxQueueSize?: number;
}

/** Checks tracing options; the error names the flag. */
export function checkTracingOptions(options: { endpoint?: string | undefined; sampleRatio: number }): void {
  if (!(options.sampleRatio >= 0 && options.sampleRatio <= 1)) {
    throw new Error(`--tracing-sample-ratio: ${options.sampleRatio} is not between 0 and 1`);
  }
  if (options.endpoint === undefined) return;
  let url: URL;
  try {
    url = new URL(options.endpoint);
  } catch {
    throw new Error(`--tracing-endpoint: "${options.endpoint}" is not a URL (e.g. http://collector:4318/v1/traces)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`--tracing-endpoint: "${options.endpoint}" must be an http:// or https:// OTLP/HTTP endpoint`);
  }
}

/** Starts exporting spans, or answers `noTracing` when no endpoint is given. */
export async function startTracing(options: TracingOptions | undefined): Promise<Tracing> {
  if (!options) return noTracing;
  checkTracingOptions(options);
  const { startOtelTracing } = await import("./otel.js");
  return startOtelTracing(options);
}
