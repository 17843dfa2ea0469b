import type { Timers } from "../clock.js";
import type { Logger } from "../logger.js";
import { type MetricsSource, startTelemetryServer, type TelemetryServer } from "../telemetry.js";
import { type TlsFiles, TlsFileWatch } from "../tls.js";
import type { WorkerSupervisor } from "./supervisor.js";

export interface PrimaryTelemetryOptions {
  supervisor: WorkerSupervisor;
  host: string;
  port: number;
  /** Serve /metrics, /healthz and /readyz over TLS. */
  tls?: TlsFiles | undefined;
  /** The content type of the workers' registries (Prometheus text). */
  contentType: MetricsSource["contentType"];
  logger: Logger;
  timers: Timers;
  /** Undoes what the primary started when the port cannot open. */
  abandon: () => Promise<void>;
}

/**
 * The primary's one metrics port for all its workers: their series added up, health and readiness
 * asked of every worker. When the port cannot open, `abandon` runs and the error is thrown.
 */
export async function startPrimaryTelemetry(options: PrimaryTelemetryOptions): Promise<TelemetryServer> {
  const { supervisor, logger } = options;
  try {
    return await startTelemetryServer({
      registry: { metrics: () => supervisor.metrics(), contentType: options.contentType },
      host: options.host,
      port: options.port,
      ...(options.tls === undefined ? {} : { tls: new TlsFileWatch(options.tls, { logger, timers: options.timers }) }),
      logger,
      liveness: () => supervisor.liveness(),
      readiness: () => supervisor.readiness(),
    });
  } catch (err) {
    await options.abandon();
    throw err;
  }
}
