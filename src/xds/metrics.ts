import { Counter, Gauge, Histogram, type Registry } from "../lib/metrics.js";
import type { Ack, Nack, Push, StreamInfo, XdsHooks } from "./hooks.js";

/** Seconds from a published change to a proxy's ACK: 5 ms to 1 minute. */
const convergenceBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The xDS server's Prometheus series, fed by the stream hooks. */
export class XdsMetrics implements XdsHooks {
  readonly #connected: Gauge<"kind">;
  readonly #pushes: Counter<"type_url">;
  readonly #nacks: Counter<"type_url">;
  readonly #convergence: Histogram<"type_url">;
  readonly #stalled: Counter;

  constructor(registry: Registry) {
    this.#connected = new Gauge({
      name: "gantry_xds_connected_proxies",
      help: "Open xDS streams, by stream kind",
      labelNames: ["kind"],
      registers: [registry],
    });
    this.#pushes = new Counter({
      name: "gantry_xds_pushes_total",
      help: "xDS responses written, by type URL",
      labelNames: ["type_url"],
      registers: [registry],
    });
    this.#nacks = new Counter({
      name: "gantry_xds_nacks_total",
      help: "xDS responses a proxy rejected, by type URL",
      labelNames: ["type_url"],
      registers: [registry],
    });
    this.#convergence = new Histogram({
      name: "gantry_xds_convergence_seconds",
      help: "Time from a change being published to a proxy ACKing it, by type URL",
      labelNames: ["type_url"],
      buckets: convergenceBuckets,
      registers: [registry],
    });
    this.#stalled = new Counter({
      name: "gantry_xds_stalled_connections_closed_total",
      help: "Client connections closed because they read nothing of their responses while other streams waited for the byte budget",
      registers: [registry],
    });
  }

  /** A client that stopped reading lost its connection (the byte budget's stall bound). */
  stalled(): void {
    this.#stalled.inc();
  }

  onStreamOpen(stream: StreamInfo): void {
    this.#connected.inc({ kind: stream.kind });
  }

  onStreamClose(stream: StreamInfo): void {
    this.#connected.dec({ kind: stream.kind });
  }

  onPush(_stream: StreamInfo, push: Push): void {
    this.#pushes.inc({ type_url: push.typeUrl });
  }

  onAck(_stream: StreamInfo, ack: Ack): void {
    if (ack.push.publishedAt === undefined) return;
    this.#convergence.observe({ type_url: ack.push.typeUrl }, (ack.at - ack.push.publishedAt) / 1000);
  }

  onNack(_stream: StreamInfo, nack: Nack): void {
    this.#nacks.inc({ type_url: nack.push.typeUrl });
  }
}
