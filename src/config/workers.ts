import { ChannelClosedError, type IpcChannel } from "../lib/cluster/index.js";
import type { ConfigProvider, ConfigSnapshot, ConfigSubscriber } from "./provider.js";

/**
 * Config across the workers of `--workers N`, as one reload ("atomic across workers"):
 *
 * 1. the primary reads, validates (and, where it can, compiles) a snapshot once;
 * 2. stage: it sends the same versioned snapshot to every worker, which compiles it off its request
 *    path while it keeps serving the current version;
 * 3. if any worker refuses it, every worker drops it: nothing changes anywhere, and the load fails
 *    as a bad config does in one process (logged, counted, NACKed over xDS);
 * 4. commit: otherwise every worker installs it in one synchronous step.
 *
 * So a call is answered by one whole version; no worker ever serves a version another refused;
 * versions only move forward; and a worker started later (a replacement) installs the current
 * version before it listens. Between the first and the last worker's commit (one IPC message each,
 * well under a millisecond unloaded) two calls on different connections may see different versions.
 */

const timeoutMs = 60_000;

interface StageMessage<T> {
  readonly version: string;
  readonly config: T;
}

/** The primary's side: which workers follow the config, and the two phases across them. */
export class WorkerConfigBroadcast<T> {
  readonly #members = new Set<IpcChannel>();
  #committed: StageMessage<T> | undefined;
  /** A reload under way: a worker joining waits for it, so it cannot miss its commit. */
  #reloading: Promise<unknown> = Promise.resolve();

  /** The primary's first load: workers start while it runs, and ask for their config once it is done. */
  #first: Promise<unknown> = Promise.resolve();

  /** Makes workers that ask for the current version wait for `load` (settled either way) first. */
  holdUntil(load: Promise<unknown>): void {
    this.#first = load.catch(() => undefined);
  }

  /** The version every worker serves (or is committing to), if any. */
  get version(): string | undefined {
    return this.#committed?.version;
  }

  /** Lets a new worker ask for the current version; it takes part in every reload from then on. */
  attach(channel: IpcChannel): void {
    channel.handle("config.current", async () => {
      await this.#first;
      await this.#reloading;
      this.#members.add(channel);
      return this.#committed ?? null;
    });
  }

  /** A worker that exited. */
  detach(channel: IpcChannel): void {
    this.#members.delete(channel);
  }

  /**
   * Stages `config` as `version` on every worker, then commits it on all of them or on none.
   * Rejects with the first refusal (a worker's compile error) when one refused.
   */
  reload(version: string, config: T): Promise<void> {
    const run = this.#reloading.then(() => this.#reload({ version, config }));
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reload(message: StageMessage<T>): Promise<void> {
    const members = [...this.#members];
    const results = await Promise.allSettled(members.map((m) => m.request("config.stage", message, timeoutMs)));
    // A worker that exited meanwhile did not refuse: its replacement starts on the committed version.
    const refusal = results.find(
      (r): r is PromiseRejectedResult => r.status === "rejected" && !(r.reason instanceof ChannelClosedError),
    );
    if (refusal) {
      await Promise.allSettled(
        members.map((m, i) =>
          results[i]?.status === "fulfilled" ? m.request("config.abort", message.version, timeoutMs) : undefined,
        ),
      );
      throw refusal.reason;
    }
    this.#committed = message;
    // A worker that exited meanwhile is replaced, and its replacement starts on this version.
    await Promise.allSettled(members.map((m) => m.request("config.commit", message.version, timeoutMs)));
  }
}

/**
 * The worker's side: a provider whose snapshots are the primary's. `start` takes the version
 * being served before the worker listens; later versions are taken in two phases (see above).
 */
export class PrimaryConfigProvider<T> implements ConfigProvider<T> {
  readonly source = "primary";
  readonly #channel: IpcChannel;
  #subscriber: ConfigSubscriber<T> | undefined;
  #current: ConfigSnapshot<T> | undefined;
  readonly #staged = new Map<string, { snapshot: ConfigSnapshot<T>; commit(): void; abort(): Promise<void> }>();

  constructor(channel: IpcChannel) {
    this.#channel = channel;
  }

  subscribe(subscriber: ConfigSubscriber<T>): () => void {
    if (!subscriber.stage) throw new Error("a worker's config subscriber must take snapshots in two phases");
    this.#subscriber = subscriber;
    return () => {
      if (this.#subscriber === subscriber) this.#subscriber = undefined;
    };
  }

  current(): ConfigSnapshot<T> | undefined {
    return this.#current;
  }

  async start(): Promise<void> {
    this.#channel.handle("config.stage", async (body) => {
      const snapshot = body as StageMessage<T>;
      const subscriber = this.#subscriber;
      if (!subscriber?.stage) throw new Error("this worker is stopping");
      const staged = await subscriber.stage(snapshot);
      this.#staged.set(snapshot.version, { snapshot, ...staged });
      return null;
    });
    this.#channel.handle("config.commit", (version) => {
      const staged = this.#staged.get(version as string);
      if (!staged) return null;
      this.#staged.delete(version as string);
      staged.commit();
      this.#current = staged.snapshot;
      return null;
    });
    this.#channel.handle("config.abort", async (version) => {
      const staged = this.#staged.get(version as string);
      this.#staged.delete(version as string);
      await staged?.abort();
      return null;
    });
    const initial = await this.#channel.request<StageMessage<T> | null>("config.current", null, timeoutMs);
    if (initial && this.#subscriber) {
      await this.#subscriber.update(initial);
      this.#current = initial;
    }
  }

  async stop(): Promise<void> {
    for (const type of ["config.stage", "config.commit", "config.abort"]) this.#channel.unhandle(type);
    const staged = [...this.#staged.values()];
    this.#staged.clear();
    await Promise.all(staged.map((s) => s.abort()));
  }
}
