// The agent's Kubernetes provider: what it discovers in its workload cluster (Services,
// EndpointSlices, Pods, and Gantry Destinations applied as custom resources), kept up to date by one
// reflector per collection, and offered as the set of Destinations the agent sends up. The agent
// reads it through ConfigProvider<DiscoveredSet>, as it reads a discovery folder.

import type { ConfigProvider, ConfigSnapshot, ConfigSubscriber } from "../config/index.js";
import { SnapshotPublisher } from "../config/index.js";
import { group, pluralOf, version } from "../kube/index.js";
import { type KubeApi, type KubeObject, Reflector } from "../kubernetes/index.js";
import { systemClock, type Timers } from "../lib/clock.js";
import { Debouncer } from "../lib/debounce.js";
import type { Logger } from "../lib/logger.js";
import { type DiscoveredSet, discoveryHash } from "../server/relay/index.js";
import { discoverDestinations } from "./kubernetes-destinations.js";
import {
  type DestinationResourceView,
  type EndpointSliceView,
  type PodView,
  projectDestinationResource,
  projectEndpointSlice,
  projectPod,
  projectService,
  type ServiceView,
} from "./kubernetes-objects.js";

export interface KubernetesDiscoveryOptions {
  api: KubeApi;
  logger: Logger;
  timers?: Timers;
  /** The cluster's DNS domain, for the hosts of Service-made Destinations. Default `cluster.local`. */
  clusterDomain?: string;
  /** Quiet time after a change before the set is made again (a lone change goes at once). Default 50 ms. */
  quietMs?: number;
  /** Longest a change waits in a burst. Default 250 ms. */
  maxDelayMs?: number;
}

export class KubernetesDiscovery implements ConfigProvider<DiscoveredSet> {
  readonly source: string;
  readonly #options: KubernetesDiscoveryOptions;
  readonly #publisher = new SnapshotPublisher<DiscoveredSet>();
  readonly #debounce: Debouncer;
  readonly #services: Reflector<ServiceView>;
  readonly #slices: Reflector<EndpointSliceView>;
  readonly #pods: Reflector<PodView>;
  readonly #destinations: Reflector<DestinationResourceView>;
  #problems = "";

  constructor(options: KubernetesDiscoveryOptions) {
    this.#options = options;
    this.source = `kubernetes ${options.api.server}`;
    const timers = options.timers ?? systemClock;
    this.#debounce = new Debouncer(() => this.#offer(), {
      quietMs: options.quietMs ?? 50,
      maxDelayMs: options.maxDelayMs ?? 250,
      leading: true,
      timers,
    });
    const reflector = <T>(path: string, what: string, project: (object: KubeObject) => T) =>
      new Reflector<T>({
        api: options.api,
        path,
        what,
        project,
        onChange: () => this.#changed(),
        timers,
        logger: options.logger,
        // A collection this cluster does not serve (the Destination CRD not installed) is empty.
        notServedRetryMs: 30_000,
      });
    this.#services = reflector("/api/v1/services", "Services", projectService);
    this.#slices = reflector("/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlices", projectEndpointSlice);
    this.#pods = reflector("/api/v1/pods", "Pods", projectPod);
    this.#destinations = reflector(
      `/apis/${group}/${version}/${pluralOf("Destination")}`,
      `Destinations (${group})`,
      projectDestinationResource,
    );
  }

  get #reflectors() {
    return [this.#services, this.#slices, this.#pods, this.#destinations];
  }

  /** The reflectors' list and watch counts, by collection (for tests and diagnostics). */
  get counts(): Record<string, { lists: number; watches: number; gone: number }> {
    return {
      services: { ...this.#services.stats },
      endpointSlices: { ...this.#slices.stats },
      pods: { ...this.#pods.stats },
      destinations: { ...this.#destinations.stats },
    };
  }

  async start(): Promise<void> {
    // Resolves at once, like an xDS source: the first set is offered once every collection is
    // listed, so an unreachable apiserver does not keep the agent from serving its last-known-good output.
    for (const reflector of this.#reflectors) reflector.run();
  }

  async stop(): Promise<void> {
    this.#debounce.stop();
    await Promise.all(this.#reflectors.map((r) => r.stop()));
    await this.#publisher.settled();
  }

  subscribe(subscriber: ConfigSubscriber<DiscoveredSet>): () => void {
    return this.#publisher.subscribe(subscriber);
  }

  current(): ConfigSnapshot<DiscoveredSet> | undefined {
    return this.#publisher.current();
  }

  #changed(): void {
    // Before every collection is listed, a set would lack what is not listed yet: the server would
    // be told that Destinations are gone that are not.
    if (this.#reflectors.every((r) => r.synced)) this.#debounce.trigger();
  }

  async #offer(): Promise<void> {
    const { set, problems } = discoverDestinations(
      {
        services: this.#services.items,
        endpointSlices: this.#slices.items,
        pods: this.#pods.items,
        destinations: this.#destinations.items,
      },
      { clusterDomain: this.#options.clusterDomain ?? "cluster.local" },
    );
    const summary = problems.join("\n");
    if (summary !== this.#problems) {
      this.#problems = summary;
      if (problems.length > 0)
        this.#options.logger.warn({ problems }, "agent: Kubernetes objects left out of discovery");
    }
    await this.#publisher.offer({ version: discoveryHash(set), config: set }).catch((err: unknown) => {
      this.#options.logger.error({ err: (err as Error).message }, "agent: discovered set refused");
    });
  }
}
