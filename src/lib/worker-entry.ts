import type { MessagePort } from "node:worker_threads";
import { toPlainBatches } from "./plain-batches.js";

/** What the pool sends a worker thread: which exported function of which module to call, with what. */
export interface WorkerTaskMessage {
  readonly module: string;
  readonly name: string;
  readonly input: unknown;
  /** Where the result goes, batch by batch (see plain-batches.ts). */
  readonly port: MessagePort;
}

/** An error thrown in a worker, as plain data: its name, message and own primitive fields. */
export interface WorkerErrorData {
  readonly name: string;
  readonly message: string;
  readonly fields: Record<string, string | number | boolean>;
}

export type WorkerTaskReply =
  | { readonly ok: true; readonly batches: number }
  | { readonly ok: false; readonly error: WorkerErrorData };

/** An error as plain data, to cross between threads. */
export function toErrorData(err: unknown): WorkerErrorData {
  if (!(err instanceof Error)) return { name: "Error", message: String(err), fields: {} };
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(err)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") fields[key] = value;
  }
  // A stack overflow deep in a library is still this input's fault, and says so.
  const message =
    err instanceof RangeError && /call stack/i.test(err.message)
      ? `too deeply nested to read (${err.message})`
      : err.message;
  return { name: err.name, message, fields };
}

/**
 * The worker thread's side of WorkerPool: loads the task's module (once; imports are cached), calls
 * the function, and sends its result in batches. A thrown error is a reply, not a crash.
 */
export default async function runTask(task: WorkerTaskMessage): Promise<WorkerTaskReply> {
  try {
    const module = (await import(task.module)) as Record<string, unknown>;
    const fn = module[task.name];
    if (typeof fn !== "function") throw new Error(`${task.module} exports no task "${task.name}"`);
    const result: unknown = await fn(task.input);
    let batches = 0;
    for (const batch of toPlainBatches(result)) {
      task.port.postMessage(batch);
      batches += 1;
    }
    return { ok: true, batches };
  } catch (err) {
    return { ok: false, error: toErrorData(err) };
  }
}
