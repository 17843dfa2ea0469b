// The OpenTelemetry side of `Tracing`, loaded only when tracing is on (see index.ts).
import {
  type Context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { CompositePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { B3Propagator } from "@opentelemetry/propagator-b3";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import type { Attributes, AttributeValue, HeaderCarrier, RequestSpan, Tracing, TracingOptions } from "./index.js";

class OtelSpan implements RequestSpan {
  readonly #tracer: Tracer;
  readonly #span: Span;

  constructor(tracer: Tracer, span: Span) {
    this.#tracer = tracer;
    this.#span = span;
  }

  get traceId(): string {
    return this.#span.spanContext().traceId;
  }

  get spanId(): string {
    return this.#span.spanContext().spanId;
  }

  child(name: string, attributes?: Attributes): RequestSpan {
    const parent = trace.setSpan(ROOT_CONTEXT, this.#span);
    return new OtelSpan(this.#tracer, this.#tracer.startSpan(name, attributes ? { attributes } : {}, parent));
  }

  setAttribute(key: string, value: AttributeValue): void {
    this.#span.setAttribute(key, value);
  }

  addEvent(name: string, attributes?: Attributes): void {
    this.#span.addEvent(name, attributes);
  }

  fail(message: string): void {
    this.#span.setStatus({ code: SpanStatusCode.ERROR, message });
  }

  end(): void {
    this.#span.end();
  }
}

class OtelTracing implements Tracing {
  readonly enabled = true;
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  // W3C first: Envoy sends `traceparent` with its OpenTelemetry tracer, B3 with Zipkin.
  readonly #propagator = new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new B3Propagator()],
  });

  readonly #ratio: number;
  readonly #random: () => number;

  constructor(provider: BasicTracerProvider, serviceName: string, ratio: number, random: () => number = Math.random) {
    this.#provider = provider;
    this.#ratio = ratio;
    this.#random = random;
    this.#tracer = provider.getTracer(`gantry/${serviceName}`);
  }

  startServerSpan(
    name: string,
    carriers: readonly (HeaderCarrier | undefined)[],
    attributes?: Attributes | (() => Attributes),
  ): RequestSpan | undefined {
    let parent: Context = ROOT_CONTEXT;
    for (const carrier of carriers) {
      // Most calls carry no trace context: skip the propagators' parsing for them.
      if (!carrier || !(carrier["traceparent"] || carrier["b3"] || carrier["x-b3-traceid"])) continue;
      const extracted = this.#propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
      if (trace.getSpanContext(extracted)) {
        parent = extracted;
        break;
      }
    }
    return this.#start(name, SpanKind.SERVER, parent, attributes);
  }

  startSpan(name: string, attributes?: Attributes): RequestSpan | undefined {
    return this.#start(name, SpanKind.INTERNAL, ROOT_CONTEXT, attributes);
  }

  #start(
    name: string,
    kind: SpanKind,
    parent: Context,
    attributes?: Attributes | (() => Attributes),
  ): RequestSpan | undefined {
    // A trace that would start here is decided before the SDK is asked: most calls carry no trace
    // context and are not sampled, and for them this is the whole cost of tracing (the SDK's span
    // start, ID generation and sampler cost about 15% of a data-plane call's CPU).
    if (parent === ROOT_CONTEXT && !(this.#random() < this.#ratio)) return undefined;
    // The sampler (parent-based; roots always on, decided above) does not read attributes: they are set once sampled.
    const span = this.#tracer.startSpan(name, { kind }, parent);
    // Not sampled: no object for the request to carry, nothing recorded under it.
    if (!span.isRecording()) return undefined;
    if (attributes) span.setAttributes(typeof attributes === "function" ? attributes() : attributes);
    return new OtelSpan(this.#tracer, span);
  }

  async shutdown(): Promise<void> {
    await this.#provider.shutdown();
  }
}

export function startOtelTracing(options: TracingOptions): Tracing {
  const exporter = new OTLPTraceExporter({ url: options.endpoint });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
    }),
    // A caller's decision is followed (a trace is kept whole or not at all); traces that start here
    // are kept at the ratio, decided in OtelTracing before a span is started.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        maxQueueSize: options.maxQueueSize ?? 2048,
        scheduledDelayMillis: 1_000,
      }),
    ],
  });
  // No global registration: Gantry passes spans explicitly, so no async-context hooks run per request.
  return new OtelTracing(provider, options.serviceName, options.sampleRatio);
}
