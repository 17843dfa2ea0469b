// Runs the analyzers inside the management server: the configuration and certificate analyzers
// after each translation, the proxy analyzers shortly after each stream, ACK or NACK event, and
// on a period (stale versions and departures age without events) with Redis and the data plane.
// All I/O (Redis probes, Prometheus queries) is here; the analyzers stay pure.
import type { Timer, Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { Registry } from "../lib/metrics.js";
import type { RedisClient } from "../lib/redis.js";
import type { Resource } from "../resources/index.js";
import type { ClientResourceStatus } from "../xds/index.js";
import { type AgentState, type AgentThresholds, analyzeAgents } from "./analyzers/agents.js";
import { analyzeCertificates, servedCertificates } from "./analyzers/certificates.js";
import { analyzeConfig } from "./analyzers/config.js";
import type { ConfigInput } from "./analyzers/config-input.js";
import { analyzeDataPlane } from "./analyzers/data-plane.js";
import { analyzeProxies, defaultProxyThresholds, type ProxyThresholds } from "./analyzers/proxies.js";
import { analyzeRedis, parseRedisInfo, type RedisProbe } from "./analyzers/redis.js";
import { InsightBook } from "./book.js";
import type { InsightHistory } from "./history.js";
import { registerInsightMetric } from "./metric.js";
import type { MetricSource } from "./metric-sources.js";
import { ProxyTracker } from "./proxy-tracker.js";

export interface InsightsRuntimeOptions {
  readonly clock: Timers;
  readonly history: InsightHistory;
  readonly registry: Registry;
  readonly logger: Logger;
  /** The ACK ledger's rows now that are not in sync (read when the proxy analyzers run; in-sync rows find nothing). */
  readonly proxyResources: () => readonly ClientResourceStatus[];
  /** Redis servers to probe, by role (`management`). */
  readonly redis?: readonly { readonly role: string; readonly client: RedisClient }[];
  /** Where data-plane numbers come from; none: no data-plane analysis. */
  readonly metrics?: MetricSource;
  /** The workload clusters' agents as the relay sees them; none: no agent analysis. */
  readonly agents?: () => readonly AgentState[];
  readonly agentThresholds?: AgentThresholds;
  /** The periodic run. Default 15 s. */
  readonly intervalMs?: number;
  readonly proxyThresholds?: ProxyThresholds;
  /** PING and INFO's bound. Default 2 s. */
  readonly redisTimeoutMs?: number;
}

/**
 * Events arriving within this of each other are analyzed once. Each analysis reads the whole ACK ledger
 * (every stream × resource): at 100 ms, 100 Go clients on 20 targets ACKing a route change made it 40%
 * of the server's CPU (bench/results/xds-propagation.md). A NACK still shows within a second.
 */
const proxyDebounceMs = 500;

export class InsightsRuntime {
  readonly book: InsightBook;
  /** Give these to the xDS server as hooks. */
  readonly tracker: ProxyTracker;
  readonly #options: InsightsRuntimeOptions;
  readonly #previousProbes = new Map<string, RedisProbe>();
  #resources: readonly Resource[] = [];
  #proxyTimer: Timer | undefined;
  #interval: Timer | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;

  constructor(options: InsightsRuntimeOptions) {
    this.#options = options;
    this.book = new InsightBook(options.clock, options.history, options.logger);
    this.tracker = new ProxyTracker(options.clock, () => this.#scheduleProxies());
    registerInsightMetric(options.registry, this.book);
  }

  /** Reads the silences and starts the periodic run. */
  async start(): Promise<void> {
    await this.book.refreshSilences().catch((err: unknown) => {
      this.#options.logger.warn({ err }, "cannot read insight silences; none apply until the next read");
    });
    this.#interval = this.#options.clock
      .setInterval(() => void this.tick(), this.#options.intervalMs ?? 15_000)
      .unref();
  }

  /** After each translation: the configuration analyzers, and certificates (which may have changed). */
  onTranslation(input: ConfigInput): void {
    this.#resources = input.resources;
    try {
      this.book.report("config", analyzeConfig(input));
    } catch (err) {
      this.#options.logger.error({ err }, "configuration analysis failed; its insights are kept as they were");
    }
    void this.#certificates();
  }

  /** The proxy analyzers, now. */
  analyzeProxies(): void {
    this.#proxyTimer?.cancel();
    this.#proxyTimer = undefined;
    if (this.#stopped) return;
    const input = {
      now: this.#options.clock.now(),
      connected: this.tracker.connected(),
      departed: this.tracker.departed(),
      resources: this.#options.proxyResources(),
    };
    this.book.report("proxies", analyzeProxies(input, this.#options.proxyThresholds ?? defaultProxyThresholds));
  }

  /** One periodic run (tests call it on a manual clock); a run still going is not started twice. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    this.analyzeProxies();
    this.#agents();
    await Promise.all([
      this.#certificates(),
      this.#redis(),
      this.#dataPlane(),
      this.book.refreshSilences().catch(() => []),
    ]);
  }

  #agents(): void {
    const agents = this.#options.agents;
    if (!agents) return;
    const now = this.#options.clock.now();
    this.book.report("agents", analyzeAgents(agents(), now, this.#options.agentThresholds));
  }

  #scheduleProxies(): void {
    if (this.#proxyTimer || this.#stopped) return;
    this.#proxyTimer = this.#options.clock.setTimeout(() => this.analyzeProxies(), proxyDebounceMs).unref();
  }

  async #certificates(): Promise<void> {
    try {
      const found = await analyzeCertificates(servedCertificates(this.#resources), this.#options.clock.now());
      if (!this.#stopped) this.book.report("certificates", found);
    } catch (err) {
      this.#options.logger.error({ err }, "certificate analysis failed");
    }
  }

  async #redis(): Promise<void> {
    for (const { role, client } of this.#options.redis ?? []) {
      const probe = await this.#probe(client);
      if (this.#stopped) return;
      this.book.report(`redis:${role}`, analyzeRedis(role, probe, this.#previousProbes.get(role)));
      this.#previousProbes.set(role, probe);
    }
  }

  async #probe(client: RedisClient): Promise<RedisProbe> {
    const timeoutMs = this.#options.redisTimeoutMs ?? 2_000;
    const bounded = <T>(work: Promise<T>) =>
      Promise.race([
        work,
        new Promise<never>((_, reject) => {
          const timer = this.#options.clock.setTimeout(
            () => reject(new Error(`no answer within ${timeoutMs}ms`)),
            timeoutMs,
          );
          void work.finally(() => timer.cancel()).catch(() => {});
        }),
      ]);
    try {
      // Measured on real time: a duration, like every latency metric.
      const started = performance.now();
      await bounded(client.ping());
      const pingMs = performance.now() - started;
      const info = parseRedisInfo(await bounded(client.info()));
      return { reachable: true, pingMs, ...info };
    } catch (err) {
      return { reachable: false, error: (err as Error).message };
    }
  }

  async #dataPlane(): Promise<void> {
    const source = this.#options.metrics;
    if (!source) return;
    try {
      const sample = await source.sample();
      if (!this.#stopped) this.book.report("data-plane", analyzeDataPlane(sample));
    } catch (err) {
      // A Prometheus that does not answer says nothing about the data plane: keep what was found.
      this.#options.logger.warn({ err }, "cannot read data-plane metrics; data-plane insights are kept as they were");
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#interval?.cancel();
    this.#proxyTimer?.cancel();
    await this.#ticking;
    await this.book.flushed();
  }
}
