import type { Registry } from "prom-client";
import type { Readiness } from "../telemetry.js";
import { IpcChannel, type IpcPort } from "./channel.js";

/** This worker's slot, 1..N (kept by its replacement). */
export function workerSlot(): number {
  return Number(process.env["GANTRY_WORKER_SLOT"] ?? "0");
}

/** The worker's channel to its primary (a worker process's module calls it once). */
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

/**
 * A worker process's start: asks the primary for its options (plain data: flags, file paths), starts
 * with them, and exits with the reason on stderr if it cannot (the primary sees the exit).
 */
export async function runWorker<O>(start: (options: O, channel: IpcChannel) => Promise<unknown>): Promise<void> {
  const channel = channelToPrimary();
  try {
    const options = await channel.request<O>("worker.options", null, 60_000);
    await start(options, channel);
  } catch (err) {
    process.stderr.write(`gantry worker ${workerSlot()}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
