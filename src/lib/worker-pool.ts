import { existsSync } from "node:fs";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MessageChannel, type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import { Piscina } from "piscina";
import { PlainAssembler, type PlainBatch } from "./plain-batches.js";
import type { WorkerErrorData, WorkerTaskMessage, WorkerTaskReply } from "./worker-entry.js";

/** A function a worker thread runs: an export of a module, called with plain data, returning plain data. */
export interface WorkerTask {
  /** The module's URL, as `new URL("./x.js", import.meta.url)` spells it. */
  readonly module: URL;
  /** The name of the exported function. */
  readonly name: string;
}

export interface WorkerPoolOptions {
  /** Worker threads at most. Default 1: config loads run one after another anyway. */
  threads?: number;
  /** Heap of one worker thread, in MiB; a task that needs more fails, the process does not. Default 2048. */
  maxHeapMb?: number;
  /** Longest time the receiving thread spends putting a result together before it yields. Default 4 ms. */
  sliceMs?: number;
}

/** A task that failed in the worker thread: the error's name, message and fields, as it was thrown. */
export class WorkerTaskError extends Error {
  readonly fields: Readonly<Record<string, string | number | boolean>>;

  constructor(data: WorkerErrorData) {
    super(data.message);
    this.name = data.name;
    this.fields = data.fields;
    // Read as the original error's fields were (`code`, a config error's `source` and `line`).
    Object.assign(this, data.fields);
  }
}

/**
 * A module's compiled JavaScript. Run from the TypeScript sources (the tests), a worker thread
 * cannot load `.ts`, so it loads the same module from `dist/`, which `npm test` builds first.
 */
export function runnableModule(module: URL): string {
  const path = fileURLToPath(module);
  if (existsSync(path)) return module.href;
  const built = path.replace(/([/\\])src([/\\])(?!.*[/\\]src[/\\])/, "$1dist$2");
  if (built !== path && existsSync(built)) return pathToFileURL(built).href;
  throw new Error(`${path}: not built; run \`npm run build\``);
}

const entry = new URL("./worker-entry.js", import.meta.url);

/**
 * Worker threads for work too long for the event loop (parsing, validating and compiling config).
 * Created on first use, closed with `close`. A task that throws, runs out of heap, or kills its
 * thread rejects its own promise only; the pool starts a new thread for the next task. Results
 * arrive in batches (see plain-batches.ts) put together a slice at a time, so a large result never
 * holds the event loop for long.
 */
export class WorkerPool {
  readonly #options: Required<WorkerPoolOptions>;
  #pool: Piscina<WorkerTaskMessage, WorkerTaskReply> | undefined;
  #closed = false;

  constructor(options: WorkerPoolOptions = {}) {
    this.#options = {
      threads: options.threads ?? 1,
      maxHeapMb: options.maxHeapMb ?? 2048,
      sliceMs: options.sliceMs ?? 4,
    };
  }

  async run<T>(task: WorkerTask, input: unknown): Promise<T> {
    if (this.#closed) throw new Error("the worker pool is closed");
    this.#pool ??= new Piscina<WorkerTaskMessage, WorkerTaskReply>({
      filename: runnableModule(entry),
      minThreads: 0,
      maxThreads: this.#options.threads,
      // Kept while the process lives: a thread's start (loading the schemas) is paid once.
      idleTimeout: Number.POSITIVE_INFINITY,
      resourceLimits: { maxOldGenerationSizeMb: this.#options.maxHeapMb },
    });
    const { port1, port2 } = new MessageChannel();
    try {
      let reply: WorkerTaskReply;
      try {
        reply = await this.#pool.run(
          { module: runnableModule(task.module), name: task.name, input, port: port2 },
          { transferList: [port2] },
        );
      } catch (err) {
        throw new Error(`the config worker thread failed: ${(err as Error).message}`);
      }
      if (!reply.ok) throw new WorkerTaskError(reply.error);
      return (await this.#assemble(port1, reply.batches)) as T;
    } finally {
      port1.close();
    }
  }

  async #assemble(port: MessagePort, batches: number): Promise<unknown> {
    const assembler = new PlainAssembler();
    let turnStart = performance.now();
    let waits = 0;
    for (let received = 0; received < batches; ) {
      const message = receiveMessageOnPort(port);
      if (message === undefined) {
        // Sent before the reply, so queued already; wait briefly in case they are not.
        if (++waits > 1_000)
          throw new Error(`the config worker thread's result is incomplete (${received}/${batches})`);
        await sleep(1);
        continue;
      }
      assembler.add(message.message as PlainBatch);
      received += 1;
      if (performance.now() - turnStart >= this.#options.sliceMs) {
        await nextTurn();
        turnStart = performance.now();
      }
    }
    return assembler.result;
  }

  /** Ends the worker threads once their tasks are done. Calling it again does nothing. */
  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.close();
  }
}
