// The publish loop: one run reads the store, translates it (with the config folder's rejected
// documents and the OpenAPI checks), publishes the result to the proxies and the relay's agents, and
// keeps what the API and the Kubernetes source read of it (statuses, rejection times, rate limits,
// the graph). What the proxies do not need runs after the pushes are written (post-publish.ts).
import type { Timers } from "../lib/clock.js";
import type { Tracing } from "../lib/index.js";
import type { Logger } from "../lib/logger.js";
import { Counter, Gauge, Histogram, type Registry } from "../lib/metrics.js";
import type { OpenApiChecks } from "../openapi/index.js";
import { placementOf, type RejectedDocument, type Resource, refKey } from "../resources/index.js";
import type { ResourceKey, ResourceStore, StoreSnapshot } from "../store/index.js";
import type { Status, Translation, Translator } from "../translate/index.js";
import type { DesiredState } from "./desired-state.js";
import { buildGraph, type Graph } from "./graph.js";
import type { Publication, Publisher } from "./publish.js";
import { type RejectionTimes, rejectionTimes } from "./rejections.js";
import type { RelayHub } from "./relay/index.js";

/**
 * Resolves after the xDS pushes a publish scheduled have been handed to their connections and sent:
 * streams push on `setImmediate`, and Node's HTTP/2 sessions send what they were given on a native
 * immediate of the next loop turn, so two turns of the check phase.
 */
export function pushesWritten(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

export interface PublishMetrics {
  translations: Counter;
  translationSeconds: Histogram;
  statuses: Gauge;
  revision: Gauge;
}

export function publishMetrics(registry: Registry): PublishMetrics {
  return {
    translations: new Counter({
      name: "gantry_translations_total",
      help: "Translation runs by result",
      labelNames: ["result"],
      registers: [registry],
    }),
    translationSeconds: new Histogram({
      name: "gantry_translation_seconds",
      help: "Time to translate the whole store and publish it",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    statuses: new Gauge({
      name: "gantry_resources",
      help: "Resources by kind and status state",
      labelNames: ["kind", "state"],
      registers: [registry],
    }),
    revision: new Gauge({
      name: "gantry_published_revision",
      help: "Store revision last published",
      registers: [registry],
    }),
  };
}

/** What one publish hands to the work that waits for its pushes. */
export interface Published {
  snapshot: StoreSnapshot;
  resources: readonly Resource[];
  translation: Translation;
  statuses: ReadonlyMap<string, Status>;
  /** From the start of the run to the publish. */
  publishedMs: number;
}

export interface PublishLoopOptions {
  store: ResourceStore;
  desired: DesiredState;
  translator: Translator;
  openApi: OpenApiChecks;
  publisher: Publisher;
  /** The relay's hub: agents get each publication too. */
  hub: RelayHub | undefined;
  tracing: Tracing;
  clock: Timers;
  logger: Logger;
  metrics: PublishMetrics;
  /** Runs once the pushes of a publish are written (post-publish.ts); what it throws fails the run. */
  afterPublish(published: Published): void;
}

export class PublishLoop {
  readonly #options: PublishLoopOptions;
  #statuses = new Map<string, Status>();
  #rejectedSince: RejectionTimes = new Map();
  #rateLimits: Translation["rateLimits"] = [];
  /** Each published Destination's workload clusters (`metadata.clusters`), for the dashboard's graph. */
  #destinationClusters = new Map<string, readonly string[]>();
  /** The graph of the last publication, drawn at the first ask. */
  #drawn: { revision: number; graph: Graph } | undefined;
  #configDirRejected: RejectedDocument[] = [];
  /** Config folder loads, and those the last publish saw: its rejected documents may change at one revision. */
  #configDirLoads = 0;
  #publishedLoads = 0;
  /** The OpenAPI checks' version the last publish translated with. */
  #publishedChecks = -1;
  #publishedRevision = -1;
  #ready = false;

  constructor(options: PublishLoopOptions) {
    this.#options = options;
  }

  /** The revision of the store last translated and published. */
  get publishedRevision(): number {
    return this.#publishedRevision;
  }

  /** True once a first translation has been published. */
  get ready(): boolean {
    return this.#ready;
  }

  get rateLimits(): Translation["rateLimits"] {
    return this.#rateLimits;
  }

  status(key: ResourceKey): Status | undefined {
    return this.#statuses.get(refKey(key));
  }

  /** Since when a resource has been rejected, if it is. */
  rejectedSince(key: ResourceKey): number | undefined {
    return this.#rejectedSince.get(refKey(key))?.since;
  }

  /** The dashboard's graph of the last publication. */
  graph(): { publishedRevision: number; graph: Graph } {
    if (!this.#drawn || this.#drawn.revision !== this.#publishedRevision) {
      this.#drawn = {
        revision: this.#publishedRevision,
        graph: buildGraph(this.#options.publisher.publication.groups, this.#destinationClusters),
      };
    }
    return { publishedRevision: this.#publishedRevision, graph: this.#drawn.graph };
  }

  /** The config folder was read again: its rejected documents report with the next run. */
  configDirLoaded(rejected: RejectedDocument[]): void {
    this.#configDirRejected = rejected;
    this.#configDirLoads += 1;
  }

  /** Stored documents as resources; the config folder's rejected documents report too. */
  #parseSnapshot(snapshot: StoreSnapshot) {
    const { resources, rejected } = this.#options.desired.read(snapshot);
    return { resources, rejected: [...this.#configDirRejected, ...rejected] };
  }

  readonly run = async (): Promise<void> => {
    const { store, translator, openApi, publisher, hub, tracing, clock, logger, metrics } = this.#options;
    const started = performance.now();
    const span = tracing.startSpan("translate and publish");
    let snapshot: StoreSnapshot;
    try {
      snapshot = await store.snapshot();
    } catch (err) {
      metrics.translations.inc({ result: "store_error" });
      logger.error({ err }, "cannot read the store; proxies keep their configuration");
      span?.fail(`store: ${err instanceof Error ? err.message : String(err)}`);
      span?.end();
      throw err;
    }
    // An apply triggers a run itself and again by its store event, which Redis delivers once the
    // first run is under way: the second finds nothing new to translate.
    const loads = this.#configDirLoads;
    const checks = openApi.version;
    if (
      snapshot.revision === this.#publishedRevision &&
      loads === this.#publishedLoads &&
      checks === this.#publishedChecks
    ) {
      metrics.translations.inc({ result: "unchanged" });
      span?.setAttribute("gantry.unchanged", true);
      span?.end();
      return;
    }
    span?.setAttribute("gantry.revision", snapshot.revision);
    /** From the start to the publish, without what waits for the pushes after it. */
    let publishedMs: number | undefined;
    try {
      const { resources, rejected } = this.#parseSnapshot(snapshot);
      const translating = span?.child("translate", { "gantry.resources": resources.length });
      openApi.track(resources.flatMap((r) => (r.kind === "ApiProduct" ? [r.spec.openapi] : [])));
      const translation = translator.translate(resources, rejected, { openApi: openApi.results() });
      translating?.end();
      for (const { domain, problems } of translation.refusedDomains) {
        logger.warn(
          { domain, problems },
          "rate-limit domain refused; the rate-limit servers keep its last good config",
        );
      }
      const publication: Publication = {
        groups: translation.groups,
        authConfigs: translation.authConfigs,
        rateLimitConfigs: translation.rateLimitConfigs,
      };
      const publishing = span?.child("publish", { "gantry.gateways": translation.groups.length });
      publisher.update(publication);
      hub?.update(publication);
      publishing?.end();
      this.#statuses = translation.statuses;
      this.#rejectedSince = rejectionTimes(this.#rejectedSince, this.#statuses, clock.now());
      this.#rateLimits = translation.rateLimits;
      this.#destinationClusters = new Map(
        resources
          .filter((r) => r.kind === "Destination")
          .map((r) => [refKey({ kind: r.kind, ...r.metadata }), placementOf(r)]),
      );
      this.#drawn = undefined;
      this.#publishedRevision = snapshot.revision;
      this.#publishedLoads = loads;
      this.#publishedChecks = checks;
      this.#ready = true;
      publishedMs = performance.now() - started;
      // What follows (statuses to Kubernetes, metrics, insights, history) is not needed by the
      // proxies: it waits until the pushes this publish scheduled are written.
      await pushesWritten();
      this.#options.afterPublish({ snapshot, resources, translation, statuses: this.#statuses, publishedMs });
    } catch (err) {
      metrics.translations.inc({ result: "error" });
      logger.error(
        { err, ...(span ? { trace_id: span.traceId } : {}) },
        "translation failed; proxies keep their configuration",
      );
      span?.fail(err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      metrics.translationSeconds.observe((publishedMs ?? performance.now() - started) / 1000);
      span?.end();
    }
  };
}
