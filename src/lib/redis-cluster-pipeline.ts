import type { Cluster } from "ioredis";
import { keySlot } from "./redis-slot.js";

/** One command, and the key whose slot decides which node runs it (as the caller spells it, before the client's prefix). */
export interface SlottedCommand {
  /** A Redis command or a script defined on the client (`defineCommand`). */
  readonly name: string;
  readonly args: ReadonlyArray<string | number>;
  readonly key: string;
}

/** What ioredis' pipeline gives back for each command: its error, or its value. */
export type CommandReply = readonly [error: Error | null, value: unknown];

type Invoker = Record<string, (...args: ReadonlyArray<string | number>) => Promise<unknown>>;

/**
 * A redirection (MOVED, ASK) or TRYAGAIN reply says the command did not run where it was sent, so
 * sending it again cannot apply it twice. Any other failure (a timeout, a closed connection) may come
 * after the command ran: it is never sent again.
 */
const didNotRun = /^(MOVED|ASK|TRYAGAIN) /;

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function alone(cluster: Cluster, command: SlottedCommand): Promise<CommandReply> {
  let sent: Promise<unknown>;
  try {
    sent =
      (cluster as unknown as Invoker)[command.name]?.(...command.args) ??
      Promise.reject(new Error(`no command ${command.name}`));
  } catch (err) {
    sent = Promise.reject(err);
  }
  return sent.then(
    (value): CommandReply => [null, value],
    (err: unknown): CommandReply => [asError(err), null],
  );
}

/**
 * Sends `commands` to a Redis Cluster as one pipeline per node (one write, one round trip each, all
 * nodes at once), the nodes taken from the client's slot map. A pipeline may not span nodes, so this
 * is what a single Redis's one pipeline becomes on a Cluster.
 *
 * Redirections: when every command of a node's pipeline is redirected alike (a whole slot range
 * moved), ioredis sends the pipeline again where it is told and refreshes its slot map. When only
 * some are (a slot migrating, a map that is partly stale), those commands, and only those, are sent
 * again one by one through the client, which follows MOVED and ASK. Commands whose node the map does
 * not know yet (the client still connecting) go one by one too; ioredis queues them until it knows.
 * Replies come back in the order of `commands`; a failed command's reply carries its error.
 */
export async function execPerNode(cluster: Cluster, commands: readonly SlottedCommand[]): Promise<CommandReply[]> {
  const replies: CommandReply[] = new Array(commands.length);
  const prefix = cluster.options.keyPrefix ?? "";
  const slots = cluster.slots;
  // ioredis checks that a pipeline's slots share one set of nodes (master and replicas), spelled as here.
  const byNodes = new Map<string, number[]>();
  const unmapped: number[] = [];
  commands.forEach((command, i) => {
    const nodes = slots[keySlot(prefix + command.key)];
    if (nodes === undefined || nodes.length === 0) {
      unmapped.push(i);
      return;
    }
    const id = nodes.length === 1 ? (nodes[0] as string) : nodes.join(";");
    const list = byNodes.get(id);
    if (list) list.push(i);
    else byNodes.set(id, [i]);
  });
  const sends: Promise<void>[] = [];
  const sendAlone = (i: number) =>
    alone(cluster, commands[i] as SlottedCommand).then((reply) => {
      replies[i] = reply;
    });
  for (const indexes of byNodes.values()) {
    if (indexes.length === 1) {
      sends.push(sendAlone(indexes[0] as number));
      continue;
    }
    const pipeline = cluster.pipeline();
    const invoker = pipeline as unknown as Invoker;
    for (const i of indexes) {
      const command = commands[i] as SlottedCommand;
      invoker[command.name]?.(...command.args);
    }
    sends.push(
      pipeline.exec().then(
        (results) => {
          indexes.forEach((commandIndex, j) => {
            replies[commandIndex] = results?.[j] ?? [new Error("no reply from Redis"), null];
          });
        },
        // A pipeline is refused whole before anything is written (the slot map changed under it):
        // its commands go one by one instead.
        () => Promise.all(indexes.map(sendAlone)).then(() => undefined),
      ),
    );
  }
  for (const i of unmapped) sends.push(sendAlone(i));
  await Promise.all(sends);
  const redirected: Promise<void>[] = [];
  replies.forEach(([error], i) => {
    if (error && didNotRun.test(error.message)) redirected.push(sendAlone(i));
  });
  if (redirected.length > 0) await Promise.all(redirected);
  return replies;
}
