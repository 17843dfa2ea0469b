import { collectDefaultMetrics, Registry } from "prom-client";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * A Prometheus registry for one service. Each Gantry service has its own registry and its own
 * metrics port, so `gantry up` (several services in one process) keeps their series apart.
 */
export function createRegistry(service: string, options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "gantry_" });
  return registry;
}

/** Latency buckets in seconds for request-path services: 50 µs to 1 s. */
export const requestLatencyBuckets = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];
