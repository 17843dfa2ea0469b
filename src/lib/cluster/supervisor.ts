import cluster, { type Worker } from "node:cluster";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AggregatorRegistry, Counter, Gauge, type Registry } from "prom-client";
import { systemClock, type Timers } from "../clock.js";
import type { Logger } from "../logger.js";
import type { Readiness } from "../telemetry.js";
import { IpcChannel } from "./channel.js";

type WorkerMetrics = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

/** A worker that started, and its channel. */
export interface WorkerHandle {
  /** Stable across restarts: the slot 1..N the worker fills. */
  readonly slot: number;
  readonly pid: number;
  readonly channel: IpcChannel;
}

export interface WorkerSupervisorOptions {
  /** How many workers serve. */
  workers: number;
  /** The module a worker runs (it calls `runWorker`). */
  exec: URL;
  /** What each worker starts with: plain data (it is copied to the worker). */
  workerOptions: unknown;
  logger: Logger;
  /** The primary's own registry: `gantry_workers` and `gantry_worker_restarts_total` go here. */
  registry: Registry;
  /** Sets up a new worker's requests to the primary (config, counters), before it serves. */
  onFork?(worker: WorkerHandle): void;
  /** A worker exited (its channel is closed). */
  onExit?(worker: WorkerHandle): void;
  /** A worker that has not started serving by then is a failed start. Default 30 s. */
  startTimeoutMs?: number;
  /** Bound on each question to a worker (metrics, health). Default 2,000 ms. */
  askTimeoutMs?: number;
  timers?: Timers;
}

/** Restarts of a worker that lived less than this are spaced out (100 ms, doubling, up to 5 s): no crash loop at full speed. */
const shortLifeMs = 5_000;

interface Slot {
  readonly slot: number;
  worker: Worker | undefined;
  handle: WorkerHandle | undefined;
  serving: boolean;
  startedAt: number;
  quickRestarts: number;
}

/**
 * The primary process of `--workers N`: forks N workers that share the listening socket (node:cluster
 * hands each accepted connection to one worker in turn), replaces one that exits (counted in
 * `gantry_worker_restarts_total`), answers for all of them on the one metrics port (their metrics
 * added up, health and readiness of every worker), and stops them in order.
 */
export class WorkerSupervisor {
  readonly #options: WorkerSupervisorOptions;
  readonly #timers: Timers;
  readonly #slots: Slot[];
  readonly #restarts: Counter;
  #stopping = false;
  readonly #exits = new Set<Promise<void>>();

  constructor(options: WorkerSupervisorOptions) {
    if (!existsSync(options.exec)) {
      throw new Error(
        `cannot start workers: ${fileURLToPath(options.exec)} does not exist (running from sources? build with \`npm run build\`, or use --workers 1)`,
      );
    }
    this.#options = options;
    this.#timers = options.timers ?? systemClock;
    this.#slots = Array.from({ length: options.workers }, (_, i) => ({
      slot: i + 1,
      worker: undefined,
      handle: undefined,
      serving: false,
      startedAt: 0,
      quickRestarts: 0,
    }));
    this.#restarts = new Counter({
      name: "gantry_worker_restarts_total",
      help: "Workers that exited while the service ran, and were replaced",
      registers: [options.registry],
    });
    const slots = this.#slots;
    new Gauge({
      name: "gantry_workers",
      help: "Workers serving now (of --workers)",
      registers: [options.registry],
      collect() {
        this.set(slots.filter((s) => s.serving).length);
      },
    });
  }

  /** Forks every worker; resolves once all serve, rejects (and stops them) if one exits or is late first. */
  async start(): Promise<void> {
    // A worker loads its service's module only, not the whole CLI: N processes start on a busy machine too.
    cluster.setupPrimary({ serialization: "advanced", exec: fileURLToPath(this.#options.exec), args: [] });
    try {
      await Promise.all(this.#slots.map((slot) => this.#fork(slot)));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** The workers serving now. */
  serving(): WorkerHandle[] {
    return this.#slots.flatMap((s) => (s.serving && s.handle ? [s.handle] : []));
  }

  /** Every worker's metrics and the primary's, added up (counters and histograms summed per label set). */
  async metrics(): Promise<string> {
    const askTimeoutMs = this.#options.askTimeoutMs ?? 2_000;
    const answers = await Promise.all(
      this.serving().map((w) =>
        w.channel.request<WorkerMetrics>("worker.metrics", null, askTimeoutMs).catch((err: unknown) => {
          this.#options.logger.warn({ slot: w.slot, err: (err as Error).message }, "a worker gave no metrics");
          return undefined;
        }),
      ),
    );
    const own = await this.#options.registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([own, ...answers.filter((a) => a !== undefined)]).metrics();
  }

  /** `/healthz`: every worker is serving and answers. */
  async liveness(): Promise<Readiness> {
    return this.#askAll("worker.ping", () => ({ ready: true }));
  }

  /** `/readyz`: every worker serves and says it is ready (config, backends). */
  async readiness(): Promise<Readiness> {
    return this.#askAll("worker.readiness", (answer) => answer as Readiness);
  }

  async #askAll(type: string, read: (answer: unknown) => Readiness): Promise<Readiness> {
    const askTimeoutMs = this.#options.askTimeoutMs ?? 2_000;
    const states = await Promise.all(
      this.#slots.map(async (slot): Promise<Readiness> => {
        if (!slot.serving || !slot.handle) return { ready: false, reason: `worker ${slot.slot} is starting` };
        try {
          return read(await slot.handle.channel.request(type, null, askTimeoutMs));
        } catch (err) {
          return { ready: false, reason: `worker ${slot.slot}: ${(err as Error).message}` };
        }
      }),
    );
    const name = (i: number) => `worker ${i + 1} (pid ${this.#slots[i]?.handle?.pid ?? "none"})`;
    const detail = states.map((s, i) => `${name(i)}: ${s.ready ? "ok" : s.reason}`);
    for (const [i, s] of states.entries()) for (const line of s.detail ?? []) detail.push(`worker ${i + 1} ${line}`);
    const down = states.find((s): s is Extract<Readiness, { ready: false }> => !s.ready);
    return down ? { ready: false, reason: down.reason, detail } : { ready: true, detail };
  }

  /** Asks each worker to drain and stop, then ends it; no worker is replaced from now on. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#slots.map(async (slot) => {
        const worker = slot.worker;
        if (!worker || worker.isDead()) return;
        await slot.handle?.channel.request("worker.stop", null, 5_000).catch(() => undefined);
        if (!worker.isDead()) worker.process.kill("SIGTERM");
      }),
    );
    await Promise.all(this.#exits);
  }

  #fork(slot: Slot): Promise<void> {
    const { logger } = this.#options;
    const worker = cluster.fork({ GANTRY_WORKER_SLOT: String(slot.slot) });
    const pid = worker.process.pid ?? 0;
    const channel = new IpcChannel(worker, this.#timers);
    const handle: WorkerHandle = { slot: slot.slot, pid, channel };
    slot.worker = worker;
    slot.handle = handle;
    slot.serving = false;
    slot.startedAt = this.#timers.now();
    channel.handle("worker.options", () => this.#options.workerOptions);
    this.#options.onFork?.(handle);
    let exited!: () => void;
    const exit = new Promise<void>((resolve) => {
      exited = resolve;
    });
    this.#exits.add(exit);
    return new Promise<void>((resolve, reject) => {
      const late = this.#timers.setTimeout(() => {
        reject(
          new Error(
            `worker ${slot.slot} (pid ${pid}) did not start within ${this.#options.startTimeoutMs ?? 30_000} ms`,
          ),
        );
        worker.process.kill("SIGKILL");
      }, this.#options.startTimeoutMs ?? 30_000);
      channel.handle("worker.serving", () => {
        late.cancel();
        slot.serving = true;
        logger.debug({ slot: slot.slot, pid }, "worker serving");
        resolve();
        return null;
      });
      worker.once("exit", (code, signal) => {
        late.cancel();
        channel.close(`worker ${slot.slot} (pid ${pid}) exited`);
        this.#options.onExit?.(handle);
        this.#exits.delete(exit);
        exited();
        const wasServing = slot.serving;
        slot.serving = false;
        if (slot.worker === worker) {
          slot.worker = undefined;
          slot.handle = undefined;
        }
        if (!wasServing) {
          reject(new Error(`worker ${slot.slot} (pid ${pid}) exited before serving (${signal ?? `code ${code}`})`));
        }
        if (this.#stopping || !wasServing) return;
        this.#restarts.inc();
        const lived = this.#timers.now() - slot.startedAt;
        slot.quickRestarts = lived < shortLifeMs ? slot.quickRestarts + 1 : 0;
        const delay = slot.quickRestarts === 0 ? 0 : Math.min(5_000, 100 * 2 ** (slot.quickRestarts - 1));
        logger.error({ slot: slot.slot, pid, code, signal, restartInMs: delay }, "worker exited; replacing it");
        this.#timers.setTimeout(() => this.#replace(slot), delay);
      });
    });
  }

  #replace(slot: Slot): void {
    if (this.#stopping) return;
    this.#fork(slot).catch((err: unknown) => {
      // It exited before serving: its exit handler does not restart, so this one tries again later.
      this.#options.logger.error(
        { slot: slot.slot, err: (err as Error).message },
        "replacement worker failed to start",
      );
      if (!this.#stopping) {
        this.#restarts.inc();
        slot.quickRestarts += 1;
        this.#timers.setTimeout(() => this.#replace(slot), Math.min(5_000, 100 * 2 ** slot.quickRestarts));
      }
    });
  }
}
