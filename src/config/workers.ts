import { ChannelClosedError, type IpcChannel } from "../lib/cluster/index.js";
import { PlainAssembler, type PlainBatch, toPlainBatches } from "../lib/plain-batches.js";
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
 *
 * A staged snapshot crosses in parts (plain batches, one IPC request each, the next sent once the
 * last is taken): an IPC message is deserialized in one piece, so 2,000 auth configs sent whole held
 * a worker's event loop for 24 ms; in parts no turn holds more than one batch.
 */

const timeoutMs = 60_000;

interface StageMessage<T> {
  readonly version: string;
  readonly config: T;
}

/** One part of a staged snapshot's config; `config.stage` then names how many there were. */
interface PartMessage {
  readonly version: string;
  readonly batch: PlainBatch;
}

interface StageParts {
  readonly version: string;
  readonly parts: number;
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
    const batches = [...toPlainBatches(message.config)];
    const stage = async (member: IpcChannel) => {
      for (const batch of batches) {
        await member.request("config.part", { version: message.version, batch } satisfies PartMessage, timeoutMs);
      }
      const parts: StageParts = { version: message.version, parts: batches.length };
      return member.request("config.stage", parts, timeoutMs);
    };
    const results = await Promise.allSettled(members.map(stage));
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
  /** The parts of the version being sent, put together as they arrive. */
  #arriving: { version: string; assembler: PlainAssembler; parts: number } | undefined;

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
    this.#channel.handle("config.part", (body) => {
      const { version, batch } = body as PartMessage;
      // A new version's first part replaces what was left of an earlier one (its primary gave up on it).
      if (this.#arriving?.version !== version) this.#arriving = { version, assembler: new PlainAssembler(), parts: 0 };
      this.#arriving.assembler.add(batch);
      this.#arriving.parts += 1;
      return null;
    });
    this.#channel.handle("config.stage", async (body) => {
      const { version, parts } = body as StageParts;
      const arriving = this.#arriving;
      this.#arriving = undefined;
      if (arriving?.version !== version || arriving.parts !== parts || !arriving.assembler.done) {
        throw new Error(`config version ${version} arrived incomplete (${arriving?.parts ?? 0} of ${parts} parts)`);
      }
      const snapshot: StageMessage<T> = { version, config: arriving.assembler.result as T };
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
    for (const type of ["config.part", "config.stage", "config.commit", "config.abort"]) this.#channel.unhandle(type);
    this.#arriving = undefined;
    const staged = [...this.#staged.values()];
    this.#staged.clear();
    await Promise.all(staged.map((s) => s.abort()));
  }
}
