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

export interface PrimaryStartOptions {
  supervisor: WorkerSupervisor;
  /** The primary's first config load, run beside the workers' start (they take it once it is done). */
  initial: Promise<unknown>;
  /** The request a serving worker answers with the port it shares (e.g. "extauth.port"). */
  portRequest: string;
  telemetry: Omit<PrimaryTelemetryOptions, "supervisor" | "abandon">;
  /** Stops what the primary started besides its workers (its config follower, its worker threads). */
  teardown: () => Promise<void>;
}

export interface StartedPrimary {
  /** The port the workers share (0 when none serves). */
  readonly grpcPort: number;
  readonly telemetry: TelemetryServer;
}

/**
 * A primary's start, the same for every `--workers` service: the workers start while the first
 * config loads; if either fails, everything started is stopped and the first error thrown; then the
 * shared port is asked of the first worker and the one metrics port opens for all of them.
 */
export async function startPrimary(options: PrimaryStartOptions): Promise<StartedPrimary> {
  const { supervisor } = options;
  const abandon = async () => {
    await supervisor.stop();
    await options.teardown();
  };
  const started = await Promise.allSettled([options.initial, supervisor.start()]);
  const failure = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) {
    await abandon();
    throw failure.reason;
  }
  const [first] = supervisor.serving();
  const grpcPort = first ? await first.channel.request<number>(options.portRequest, null, 5_000) : 0;
  const telemetry = await startPrimaryTelemetry({ ...options.telemetry, supervisor, abandon });
  return { grpcPort, telemetry };
}
