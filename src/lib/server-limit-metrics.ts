import { Counter, Gauge, type Registry } from "./metrics.js";

// The series every data-plane port (ext-auth, rate limit, xDS) exports about its server-wide bounds: how
// often each bound pushed back, and how close each one is, so an operator sees the limit before it bites.

/** The bounds a server enforces across its connections. */
export type LimitedResource = "connections" | "streams" | "buffered_bytes";

/** Reads how much of each bound is in use now (for the gauges, at scrape time). */
export type LimitUsage = () => Readonly<Partial<Record<LimitedResource, number>>>;

/** Registers the series; the returned function counts one push-back by `bound`. */
export function serverLimitMetrics(registry: Registry, usage: LimitUsage): (bound: LimitedResource) => void {
  const reached = new Counter({
    name: "gantry_grpc_limit_reached_total",
    help: "Times a server-wide bound pushed back: connection refused (connections), stream refused (streams), reading paused (buffered_bytes)",
    labelNames: ["bound"],
    registers: [registry],
  });
  for (const bound of ["connections", "streams", "buffered_bytes"] as const) reached.inc({ bound }, 0);
  new Gauge({
    name: "gantry_grpc_limit_in_use",
    help: "How much of each server-wide bound is in use: open connections, open streams, request bytes held",
    labelNames: ["bound"],
    registers: [registry],
    collect() {
      for (const [bound, value] of Object.entries(usage())) if (value !== undefined) this.set({ bound }, value);
    },
  });
  return (bound) => reached.inc({ bound });
}
