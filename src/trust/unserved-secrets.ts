import { TypeUrl } from "../envoy/index.js";
import type { Logger } from "../lib/logger.js";
import { Counter, type Registry } from "../lib/metrics.js";
import type { StreamInfo, Subscription, XdsHooks } from "../xds/index.js";
import { trustBundleSecretName, workloadSecretName } from "./sds.js";

/**
 * The management server's own xDS serves no workload secrets: its cluster's agent does
 * (docs/security.md, "Delivery"). A proxy that asks the server for `default` or `ROOTCA` would
 * otherwise wait for them in silence (an Envoy listener warming for ever), so each such stream is
 * logged once, saying where to get them, and counted.
 */
export class UnservedWorkloadSecrets implements XdsHooks {
  readonly #logger: Logger;
  readonly #asked: Counter;
  readonly #told = new Set<number>();

  constructor(options: { logger: Logger; registry: Registry }) {
    this.#logger = options.logger;
    this.#asked = new Counter({
      name: "gantry_xds_workload_secret_requests_unserved_total",
      help: "xDS streams that asked the management server for workload secrets (default, ROOTCA), which its cluster's agent serves",
      registers: [options.registry],
    });
  }

  onSubscribe(stream: StreamInfo, subscription: Subscription): void {
    if (subscription.typeUrl !== TypeUrl.secret || this.#told.has(stream.id)) return;
    if (!subscription.names.has(workloadSecretName) && !subscription.names.has(trustBundleSecretName)) return;
    this.#told.add(stream.id);
    this.#asked.inc();
    this.#logger.warn(
      { node: stream.node.id, peer: stream.peer },
      "proxy asks the management server for workload secrets (default, ROOTCA): they are served by its cluster's gantry agent only; point the proxy's xDS at the agent",
    );
  }

  onStreamClose(stream: StreamInfo): void {
    this.#told.delete(stream.id);
  }
}
