import { Cluster } from "ioredis";
import { type CommandReply, execPerNode, keySlot, type RedisClient } from "../lib/index.js";
import type { CounterGroup, CounterStore, HitOutcome } from "./algorithms.js";
import {
  type CommandName,
  type FixedBatching,
  type Invoker,
  plan,
  refusedNodeCall,
  type ScriptDefinition,
  scripts,
} from "./redis-commands.js";

/**
 * Counters in Redis (single node, Sentinel or Cluster). One event-loop turn's counters go out as one
 * pipeline on a single node, their fixed windows in one script call. On a Cluster they go out as one
 * pipeline per node, at once, each node's fixed windows in one script call (Redis 7 lets a script
 * declare one key and touch others of its node). When a node refuses that call because a slot moved,
 * those counters are sent again, a script call per slot, through ioredis, which follows MOVED and ASK
 * (see execPerNode); on a Redis older than 7.0, a call per slot from then on.
 * A counter whose commands failed gets its error; the others of the batch are answered.
 */
export class RedisCounterStore implements CounterStore {
  readonly #client: RedisClient;
  readonly #cluster: Cluster | undefined;
  readonly #keyPrefix: string;
  /** Whether the Cluster's nodes take the per-node script; false once one refused it as unknown. */
  #perNode = true;

  constructor(client: RedisClient) {
    this.#client = client;
    this.#cluster = client instanceof Cluster ? client : undefined;
    this.#keyPrefix = client.options.keyPrefix ?? "";
    for (const [name, definition] of Object.entries(scripts) as [string, ScriptDefinition][]) {
      client.defineCommand(name, definition);
    }
  }

  async apply(groups: readonly CounterGroup[], nowMs: number): Promise<Array<HitOutcome[] | Error>> {
    const cluster = this.#cluster;
    if (!cluster) {
      const { commands, readers } = plan(groups, nowMs, { kind: "one" });
      const pipeline = this.#client.pipeline();
      const invoker = pipeline as unknown as Invoker;
      for (const c of commands) invoker[c.name as CommandName](...c.args);
      const replies = (await pipeline.exec()) ?? [];
      return readers.map((read) => read(replies));
    }
    const prefix = this.#keyPrefix;
    const bySlot: FixedBatching = { kind: "slot", slot: (key) => keySlot(prefix + key) };
    if (!this.#perNode) return this.#onCluster(cluster, groups, nowMs, bySlot);
    const slots = cluster.slots;
    const results = await this.#onCluster(cluster, groups, nowMs, {
      kind: "node",
      prefix,
      node: (key) => slots[keySlot(prefix + key)]?.join(";") ?? "",
    });
    const refused: number[] = [];
    results.forEach((result, i) => {
      if (result instanceof Error && refusedNodeCall(result)) refused.push(i);
    });
    if (refused.length === 0) return results;
    if (refused.some((i) => !/non local key/i.test((results[i] as Error).message))) this.#perNode = false;
    const again = await this.#onCluster(
      cluster,
      refused.map((i) => groups[i] as CounterGroup),
      nowMs,
      bySlot,
    );
    refused.forEach((groupIndex, j) => {
      results[groupIndex] = again[j] ?? new Error("no reply from Redis");
    });
    return results;
  }

  async #onCluster(
    cluster: Cluster,
    groups: readonly CounterGroup[],
    nowMs: number,
    batching: FixedBatching,
  ): Promise<Array<HitOutcome[] | Error>> {
    const { commands, readers } = plan(groups, nowMs, batching);
    const replies: readonly CommandReply[] = await execPerNode(cluster, commands);
    return readers.map((read) => read(replies));
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }
}
