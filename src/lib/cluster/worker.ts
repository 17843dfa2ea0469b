import cluster from "node:cluster";
import type { Registry } from "prom-client";
import type { Readiness } from "../telemetry.js";
import { IpcChannel, type IpcPort } from "./channel.js";

/** Whether this process is a worker of `--workers N`, started by a WorkerSupervisor. */
export function isSupervisedWorker(): boolean {
  return cluster.isWorker && process.env["GANTRY_WORKER_SLOT"] !== undefined;
}

/** This worker's slot, 1..N (kept by its replacement). */
export function workerSlot(): number {
  return Number(process.env["GANTRY_WORKER_SLOT"] ?? "0");
}

/** The worker's channel to its primary. */
export function channelToPrimary(): IpcChannel {
  // The primary going away ends its workers: nobody would replace, reload or stop them.
  process.once("disconnect", () => process.exit(1));
  // Ctrl-C reaches the whole process group: the primary stops the workers in order.
  process.on("SIGINT", () => {});
  return new IpcChannel(process as unknown as IpcPort);
}

export interface WorkerServing {
  registry: Registry;
  readiness(): Readiness | Promise<Readiness>;
  /** Drains and closes the worker's servers; the primary ends the process afterwards. */
  stop(): Promise<void>;
}

/**
 * Answers the primary's questions about this worker (metrics, health, readiness, stop), then tells
 * it the worker serves. Called once the worker's port listens.
 */
export async function reportServing(channel: IpcChannel, serving: WorkerServing): Promise<void> {
  channel.handle("worker.metrics", () => serving.registry.getMetricsAsJSON());
  channel.handle("worker.ping", () => null);
  channel.handle("worker.readiness", () => serving.readiness());
  channel.handle("worker.stop", async () => {
    await serving.stop();
    return null;
  });
  await channel.request("worker.serving", null, 10_000);
}
