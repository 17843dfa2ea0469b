import { equals, type MessageInitShape } from "@bufbuild/protobuf";
import { ApiProvider, type ConfigProvider, LiveConfig } from "../config/index.js";
import type {
  CheckRequest,
  CheckResponse,
  CheckResponseSchema,
} from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { type AuthConfig, AuthConfigSchema } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import { type HeaderCarrier, type Logger, type RequestSpan, type Tracing, TurnSlices } from "../lib/index.js";
import { AuthConfigInvalid, type CompiledAuthConfig, compileAuthConfig } from "./compile.js";
import type { AuthConfigSet } from "./config-set.js";
import { RequestContext } from "./context.js";
import { type Decision, decide } from "./decide.js";
import type { EvaluatorDeps } from "./evaluator.js";
import type { CheckResult, ExtAuthMetrics } from "./metrics.js";
import { allowResponse, denyResponse, unknownConfigResponse } from "./response.js";

type CheckAnswer = CheckResponse | MessageInitShape<typeof CheckResponseSchema>;

/**
 * A served auth config and the checks running on it. A replaced config is closed only once its
 * last running check has finished, so a reload never pulls a connection from under a request.
 */
class Served {
  inflight = 0;
  retired = false;

  constructor(
    readonly compiled: CompiledAuthConfig,
    readonly logger: Logger,
  ) {}

  release(): void {
    this.inflight--;
    if (this.retired && this.inflight === 0) this.#close();
  }

  retire(): void {
    this.retired = true;
    if (this.inflight === 0) this.#close();
  }

  #close(): void {
    this.compiled.close().catch((err: unknown) => this.logger.warn({ err }, "closing a replaced auth config failed"));
  }
}

export interface ExtAuthServiceOptions {
  deps: EvaluatorDeps;
  metrics: ExtAuthMetrics;
  /** The config for requests whose context_extensions name none. */
  defaultConfigId?: string | undefined;
  /** Bound on one check, backend calls included. */
  checkTimeoutMs: number;
  /** Log and count loads. Default true; a worker of `--workers` leaves it to its primary. */
  reportLoads?: boolean;
  /** Spans for sampled checks. Default none. */
  tracing?: Tracing;
}

/** What a check span says about the request: never a header value, a query string or a body. */
function checkAttributes(request: CheckRequest, configId: string | undefined): Record<string, string> {
  const http = request.attributes?.request?.http;
  const attributes: Record<string, string> = { "gantry.config_id": configId ?? "" };
  if (http?.method) attributes["http.request.method"] = http.method;
  if (http?.path) attributes["url.path"] = http.path.split("?", 1)[0] as string;
  return attributes;
}

function endCheckSpan(span: RequestSpan, decision: Decision): void {
  span.setAttribute("gantry.decision", decision.kind);
  if (decision.kind !== "allow" && decision.step) span.setAttribute("gantry.step", decision.step);
  if (decision.kind === "error") span.fail(decision.reason);
  span.end();
}

/** Log fields that tie a line to its trace. */
export function traceFields(span: RequestSpan | undefined): { trace_id?: string; span_id?: string } {
  return span ? { trace_id: span.traceId, span_id: span.spanId } : {};
}

/** Compiled auth configs by id: what one snapshot serves. */
type ServedConfigs = ReadonlyMap<string, Served>;

/**
 * The Check service: picks the auth config a request names, runs it, answers Envoy. Its configs
 * come from the providers it follows, through one `LiveConfig`: built whole off the request path,
 * swapped in at once, reported (log and `gantry_extauth_config_reloads_total`) per load.
 */
export class ExtAuthService {
  readonly #options: ExtAuthServiceOptions;
  readonly #live: LiveConfig<AuthConfigSet, ServedConfigs>;
  /** Configs handed over in-process: `replace`. */
  readonly #pushed = new ApiProvider<AuthConfigSet>({ source: "setConfigs" });
  #served: ServedConfigs = new Map();

  constructor(options: ExtAuthServiceOptions) {
    this.#options = options;
    const { metrics, deps } = options;
    this.#live = new LiveConfig({
      compile: (set, serving) => this.#compile(set, serving),
      install: (next, previous) => this.#install(next, previous),
      // A reload another worker refused: the configs built for it are closed, the served ones kept.
      discard: async (next, serving) => {
        await Promise.all([...next].filter(([id, s]) => serving?.get(id) !== s).map(([, s]) => s.compiled.close()));
      },
      onLoaded: (snapshot, served, source) => {
        if (options.reportLoads === false) {
          deps.logger.debug({ version: snapshot.version }, "auth configs installed");
          return;
        }
        metrics.reload("success", served.size);
        deps.logger.info(
          { source, version: snapshot.version, configs: [...served.keys()].sort() },
          "auth configs loaded",
        );
      },
      onFailed: (error, source) => {
        if (options.reportLoads === false) return;
        metrics.reload("failure");
        deps.logger.error({ source, error: error.message }, "auth config load failed; keeping the last good configs");
      },
    });
    // An API provider starts at once and cannot fail.
    void this.#live.follow(this.#pushed);
  }

  /** Whether a config set has been loaded (readiness). */
  get loaded(): boolean {
    return this.#live.version !== undefined;
  }

  /** The version of the config set served, if any. */
  get version(): string | undefined {
    return this.#live.version;
  }

  get configIds(): string[] {
    return [...this.#served.keys()].sort();
  }

  /** Serves the configs `provider` yields from now on; rejects if its first snapshot cannot be served. */
  follow(provider: ConfigProvider<AuthConfigSet>): Promise<void> {
    return this.#live.follow(provider);
  }

  /**
   * Replaces the whole config set atomically: every config is built first, and on any error
   * nothing changes (the error names the config id and field). Configs equal to the ones
   * served are kept as they are, with their caches.
   */
  replace(configs: readonly AuthConfig[]): Promise<void> {
    return this.#pushed.push({ configs });
  }

  async #compile(set: AuthConfigSet, serving: ServedConfigs | undefined): Promise<ServedConfigs> {
    try {
      return await this.#build(set.configs, serving);
    } catch (err) {
      if (err instanceof AuthConfigInvalid && err.source === undefined && set.locate) {
        throw new AuthConfigInvalid(err.configId, err.field, err.problem, await set.locate(err.configId, err.field));
      }
      throw err;
    }
  }

  async #build(configs: readonly AuthConfig[], serving: ServedConfigs | undefined): Promise<ServedConfigs> {
    const { deps, metrics } = this.#options;
    const seen = new Set<string>();
    for (const config of configs) {
      if (seen.has(config.id)) throw new AuthConfigInvalid(config.id, "id", "the id is used by two auth configs");
      seen.add(config.id);
    }
    const next = new Map<string, Served>();
    const fresh: CompiledAuthConfig[] = [];
    // Thousands of configs take a second or more to build: checks are answered between slices.
    const slices = new TurnSlices();
    try {
      for (const config of configs) {
        await slices.maybeYield();
        const current = serving?.get(config.id);
        if (current && equals(AuthConfigSchema, current.compiled.source, config)) {
          next.set(config.id, current);
          continue;
        }
        const compiled = await compileAuthConfig(config, deps, metrics.forConfig(config.id));
        fresh.push(compiled);
        next.set(config.id, new Served(compiled, deps.logger));
      }
    } catch (err) {
      await Promise.all(fresh.map((compiled) => compiled.close()));
      throw err;
    }
    return next;
  }

  #install(next: ServedConfigs, previous: ServedConfigs | undefined): void {
    this.#served = next;
    for (const [id, served] of previous ?? []) if (next.get(id) !== served) served.retire();
  }

  /**
   * Answers one check. Never throws: every failure is a denial with its reason in metadata.
   * `metadata` is the gRPC call's headers: a trace context there (Envoy's span for the ext_authz
   * call) is the check span's parent, before one in the checked request's own headers.
   */
  check(request: CheckRequest, metadata?: HeaderCarrier): CheckAnswer | Promise<CheckAnswer> {
    const started = performance.now();
    const configId = request.attributes?.contextExtensions["config_id"] || this.#options.defaultConfigId;
    const served = configId === undefined ? undefined : this.#served.get(configId);
    const span = this.#options.tracing?.startServerSpan(
      "ext_authz Check",
      [metadata, request.attributes?.request?.http?.headers],
      () => checkAttributes(request, configId),
    );
    if (!served) {
      this.#options.metrics.unknownConfig(configId, (performance.now() - started) / 1000);
      if (span) {
        span.setAttribute("gantry.decision", "unknown_config");
        span.end();
      }
      return unknownConfigResponse(configId);
    }
    served.inflight++;
    const compiled = served.compiled;
    const context = new RequestContext(request, this.#options.checkTimeoutMs, this.#options.deps.clock, span);
    let decision: Decision | Promise<Decision>;
    try {
      decision = decide(compiled.expression, compiled.steps, context);
    } catch (err) {
      decision = { kind: "error", step: "", reason: "internal error" };
      this.#options.deps.logger.error({ err, configId, ...traceFields(span) }, "check failed");
    }
    if (decision instanceof Promise) {
      return decision.then(
        (settled) => this.#answer(served, context, settled, started),
        (err: unknown) => {
          this.#options.deps.logger.error({ err, configId, ...traceFields(span) }, "check failed");
          return this.#answer(served, context, { kind: "error", step: "", reason: "internal error" }, started);
        },
      );
    }
    return this.#answer(served, context, decision, started);
  }

  #answer(served: Served, context: RequestContext, decision: Decision, started: number): CheckAnswer {
    context.finish();
    served.release();
    const compiled = served.compiled;
    const result: CheckResult = decision.kind === "deny" ? decision.verdict.kind : decision.kind;
    compiled.metrics.check(result, (performance.now() - started) / 1000);
    if (context.trace) endCheckSpan(context.trace, decision);
    return decision.kind === "allow"
      ? allowResponse(decision.effects)
      : denyResponse(compiled.id, decision, compiled.denials, compiled.failOnRedirect);
  }

  /** Closes every served config (server stop). */
  async close(): Promise<void> {
    await this.#live.stop();
    const served = [...this.#served.values()];
    this.#served = new Map();
    await Promise.all(served.map((s) => s.compiled.close()));
  }
}
