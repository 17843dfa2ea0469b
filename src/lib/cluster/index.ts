/**
 * `--workers N`: a primary process that supervises N workers sharing one listening socket
 * (node:cluster), and the IPC requests between them. Knows no domain.
 */
export { ChannelClosedError, IpcChannel, type IpcPort, RemoteError } from "./channel.js";
export {
  type PrimaryStartOptions,
  type PrimaryTelemetryOptions,
  type StartedPrimary,
  startPrimary,
  startPrimaryTelemetry,
} from "./primary.js";
export { type WorkerHandle, WorkerSupervisor, type WorkerSupervisorOptions } from "./supervisor.js";
export { reportServing, runWorker, type WorkerServing, workerSlot } from "./worker.js";
