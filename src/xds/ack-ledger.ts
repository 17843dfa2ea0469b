// Per-resource ACK status per client: which client (node id) runs which version of each resource
// it subscribed to, which NACKed it, which waits for it, over all the node's streams, SotW and
// delta alike. Built from the stream hooks alone (no I/O, times come with the events), and read
// against the snapshots being served now.
import type { Ack, Held, Nack, Push, StreamInfo, StreamKind, Subscription, XdsHooks } from "./hooks.js";

/** Where one client stands on one resource. */
export type ClientResourceState = "in-sync" | "pending" | "nacked";

/** One client's standing on one resource it subscribed to, over all its streams that subscribe to it. */
export interface ClientResourceStatus {
  readonly nodeId: string;
  readonly typeUrl: string;
  readonly name: string;
  /** The worst of its streams: nacked, then pending, then in sync. */
  readonly state: ClientResourceState;
  /** The resource's version in the node's snapshot now. */
  readonly version: string;
  /** The version the client ACKed (the stream in the worst state), "" when it holds none. */
  readonly clientVersion: string;
  /** Pending: the current version was sent and awaits its ACK (else it is not sent yet). */
  readonly sent: boolean;
  /** Nacked: the client's error_detail message. */
  readonly error: string;
  /** Nacked: when it first NACKed this version; pending and sent: when it was sent (clock ms). */
  readonly since: number | undefined;
  /** How many of the node's streams subscribe to it. */
  readonly streams: number;
}

/** One client (node id) over all its streams. */
export interface ClientSummary {
  readonly nodeId: string;
  /** Its open streams' kinds, one entry per stream, sorted. */
  readonly streams: readonly StreamKind[];
  readonly inSync: number;
  readonly pending: number;
  readonly nacked: number;
  /** Its most recent NACK on any stream and type, kept after later ACKs so the error stays visible. */
  readonly lastNack: LastNack | undefined;
}

export interface AckTable {
  /** By node id, type URL, then name. */
  readonly resources: readonly ClientResourceStatus[];
  /** By node id. */
  readonly clients: readonly ClientSummary[];
}

/** The resources of one type a stream's snapshot holds now, by name. */
export type CurrentResources = (
  stream: StreamInfo,
  typeUrl: string,
) => ReadonlyMap<string, { readonly version: string }> | undefined;

export interface LastNack {
  readonly typeUrl: string;
  readonly error: string;
  readonly at: number;
}

interface Rejection {
  readonly version: string;
  readonly error: string;
  readonly since: number;
}

interface TypeLedger {
  wildcard: boolean;
  names: ReadonlySet<string>;
  /** What the client runs: name → version ACKed (or reported on reconnect). */
  acked: ReadonlyMap<string, string>;
  /** The response sent and not answered yet. */
  inFlight: Push | undefined;
  /** Per name, the version it last refused. */
  rejected: Map<string, Rejection>;
}

interface StreamLedger {
  readonly info: StreamInfo;
  readonly types: Map<string, TypeLedger>;
  lastNack: LastNack | undefined;
}

const severity: Record<ClientResourceState, number> = { "in-sync": 0, pending: 1, nacked: 2 };

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The resources a NACK refuses. A response is ACKed or NACKed whole, but clients refuse
 * resources one by one (gRPC keeps the valid ones; Envoy names the bad ones): the error
 * detail names them. When it names none of the response's changed resources, every changed
 * one is taken as refused, since nothing tells which.
 */
export function refusedBy(error: string, changed: readonly string[]): string[] {
  const named = changed.filter((name) => error.includes(name));
  return named.length > 0 ? named : [...changed];
}

/** Follows every stream by its hooks; `table()` reads where each client stands now. */
export class AckLedger implements XdsHooks {
  readonly #streams = new Map<number, StreamLedger>();
  readonly #outOfSync = new OutOfSync();

  onStreamOpen(stream: StreamInfo): void {
    this.#streams.set(stream.id, { info: stream, types: new Map(), lastNack: undefined });
  }

  onStreamClose(stream: StreamInfo): void {
    this.#streams.delete(stream.id);
  }

  onSubscribe(stream: StreamInfo, subscription: Subscription): void {
    const type = this.#type(stream, subscription.typeUrl);
    if (!type) return;
    type.wildcard = subscription.wildcard;
    // The streams never change a set they reported (SotW's are shared by every stream asking alike).
    type.names = subscription.names;
    // A refusal of a name no longer asked for says nothing any more; forget it.
    if (!type.wildcard) for (const name of type.rejected.keys()) if (!type.names.has(name)) type.rejected.delete(name);
  }

  onHeld(stream: StreamInfo, held: Held): void {
    const type = this.#type(stream, held.typeUrl);
    if (type) type.acked = held.holds;
  }

  onPush(stream: StreamInfo, push: Push): void {
    const type = this.#type(stream, push.typeUrl);
    if (type) type.inFlight = push;
  }

  onAck(stream: StreamInfo, ack: Ack): void {
    const type = this.#type(stream, ack.push.typeUrl);
    if (!type) return;
    type.inFlight = undefined;
    type.acked = ack.push.holds;
    for (const [name, rejection] of type.rejected) {
      if (ack.push.holds.get(name) === rejection.version) type.rejected.delete(name);
    }
  }

  onNack(stream: StreamInfo, nack: Nack): void {
    const type = this.#type(stream, nack.push.typeUrl);
    const entry = this.#streams.get(stream.id);
    if (!type || !entry) return;
    entry.lastNack = { typeUrl: nack.push.typeUrl, error: nack.error, at: nack.at };
    type.inFlight = undefined;
    const changed = [...nack.push.holds]
      .filter(([name, version]) => type.acked.get(name) !== version)
      .map(([name]) => name);
    for (const name of refusedBy(nack.error, changed)) {
      const version = nack.push.holds.get(name) ?? "";
      const before = type.rejected.get(name);
      // "Since" is when this version was first refused: a repeated NACK of it does not reset it.
      const since = before?.version === version ? before.since : nack.at;
      type.rejected.set(name, { version, error: nack.error, since });
    }
  }

  #type(stream: StreamInfo, typeUrl: string): TypeLedger | undefined {
    const entry = this.#streams.get(stream.id);
    if (!entry) return undefined;
    let type = entry.types.get(typeUrl);
    if (!type) {
      type = { wildcard: false, names: new Set(), acked: new Map(), inFlight: undefined, rejected: new Map() };
      entry.types.set(typeUrl, type);
    }
    return type;
  }

  /**
   * Every client's standing on every resource it subscribed to (a wildcard: every resource of the
   * type) that its snapshot holds now; names it asked for that are not served are left out.
   */
  table(current: CurrentResources): AckTable {
    const byKey = new Map<string, ClientResourceStatus>();
    const kinds = new Map<string, StreamKind[]>();
    const lastNacks = new Map<string, LastNack>();
    for (const { info, types, lastNack } of this.#streams.values()) {
      appendTo(kinds, info.node.id, info.kind);
      const latest = lastNacks.get(info.node.id);
      if (lastNack && (!latest || lastNack.at > latest.at)) lastNacks.set(info.node.id, lastNack);
      for (const [typeUrl, type] of types) {
        const served = current(info, typeUrl);
        if (!served) continue;
        const names = type.wildcard ? served.keys() : type.names;
        for (const name of names) {
          const version = served.get(name)?.version;
          if (version === undefined) continue;
          const status = streamStatus(info.node.id, typeUrl, name, version, type);
          const key = `${info.node.id}\u0000${typeUrl}\u0000${name}`;
          const before = byKey.get(key);
          const worse = before === undefined || severity[status.state] > severity[before.state] ? status : before;
          byKey.set(key, { ...worse, streams: (before?.streams ?? 0) + 1 });
        }
      }
    }
    const resources = [...byKey.values()].sort(
      (a, b) => byText(a.nodeId, b.nodeId) || byText(a.typeUrl, b.typeUrl) || byText(a.name, b.name),
    );
    const byNode = new Map<string, ClientResourceStatus[]>();
    for (const row of resources) appendTo(byNode, row.nodeId, row);
    const clients = [...kinds]
      .map(([nodeId, streams]) => summarize(nodeId, streams, byNode.get(nodeId) ?? [], lastNacks.get(nodeId)))
      .sort((a, b) => byText(a.nodeId, b.nodeId));
    return { resources, clients };
  }

  /**
   * The rows of `table()` that are not in sync (pending or NACKed), without building the others: what
   * the proxy analyzers read after every burst of ACKs. Building the whole table there cost 40% of the
   * server's CPU with 2,000 streams ACKing a change (bench/results/xds-propagation.md); a fleet in sync
   * costs one memoized look-up per stream and type here. `streams` counts the node's streams not in sync.
   */
  unsettled(current: CurrentResources): ClientResourceStatus[] {
    const byKey = new Map<string, ClientResourceStatus>();
    for (const { info, types } of this.#streams.values()) {
      for (const [typeUrl, type] of types) {
        const served = current(info, typeUrl);
        if (!served) continue;
        for (const name of this.#outOfSync.of(served, type.acked, type.wildcard ? undefined : type.names)) {
          const version = served.get(name)?.version ?? "";
          const status = streamStatus(info.node.id, typeUrl, name, version, type);
          const key = `${info.node.id}\u0000${typeUrl}\u0000${name}`;
          const before = byKey.get(key);
          const worse = before === undefined || severity[status.state] > severity[before.state] ? status : before;
          byKey.set(key, { ...worse, streams: (before?.streams ?? 0) + 1 });
        }
      }
    }
    return [...byKey.values()].sort(
      (a, b) => byText(a.nodeId, b.nodeId) || byText(a.typeUrl, b.typeUrl) || byText(a.name, b.name),
    );
  }
}

/** The key a wildcard subscription is memoized under (its names are whatever is served). */
const everyName: ReadonlySet<string> = new Set();

/**
 * The names of `served` a subscription takes whose version differs from what the client runs: the
 * only ones that can be pending or NACKed. A function of three immutable maps, each shared across a
 * fleet (the snapshot's type, the SotW holding, the interned name set), so it is worked out once per
 * combination rather than once per stream.
 */
class OutOfSync {
  readonly #memo = new WeakMap<
    ReadonlyMap<string, { readonly version: string }>,
    WeakMap<ReadonlyMap<string, string>, WeakMap<ReadonlySet<string>, readonly string[]>>
  >();

  of(
    served: ReadonlyMap<string, { readonly version: string }>,
    acked: ReadonlyMap<string, string>,
    names: ReadonlySet<string> | undefined,
  ): readonly string[] {
    let byAcked = this.#memo.get(served);
    if (!byAcked) {
      byAcked = new WeakMap();
      this.#memo.set(served, byAcked);
    }
    let byNames = byAcked.get(acked);
    if (!byNames) {
      byNames = new WeakMap();
      byAcked.set(acked, byNames);
    }
    const key = names ?? everyName;
    const known = byNames.get(key);
    if (known) return known;
    const differing: string[] = [];
    for (const name of names ?? served.keys()) {
      const version = served.get(name)?.version;
      if (version !== undefined && acked.get(name) !== version) differing.push(name);
    }
    byNames.set(key, differing);
    return differing;
  }
}

function appendTo<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function streamStatus(
  nodeId: string,
  typeUrl: string,
  name: string,
  version: string,
  type: TypeLedger,
): ClientResourceStatus {
  const clientVersion = type.acked.get(name) ?? "";
  const base = { nodeId, typeUrl, name, version, clientVersion, streams: 1 };
  if (clientVersion === version) return { ...base, state: "in-sync", sent: false, error: "", since: undefined };
  const rejection = type.rejected.get(name);
  if (rejection?.version === version) {
    return { ...base, state: "nacked", sent: true, error: rejection.error, since: rejection.since };
  }
  const inFlight = type.inFlight?.holds.get(name) === version ? type.inFlight : undefined;
  return { ...base, state: "pending", sent: inFlight !== undefined, error: "", since: inFlight?.at };
}

/** One node's counts, from its rows. */
function summarize(
  nodeId: string,
  streams: StreamKind[],
  mine: readonly ClientResourceStatus[],
  lastNack: LastNack | undefined,
): ClientSummary {
  return {
    nodeId,
    streams: [...streams].sort(byText),
    inSync: mine.filter((r) => r.state === "in-sync").length,
    pending: mine.filter((r) => r.state === "pending").length,
    nacked: mine.filter((r) => r.state === "nacked").length,
    lastNack,
  };
}
