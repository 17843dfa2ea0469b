// What a cluster discovered (its Destinations with their endpoints), as the relay carries it up:
// a set of canonical JSON documents keyed `Kind/namespace/name`, each with a content hash, and a
// hash of the whole set, so the server checks that the changes it applied add up to what the agent
// holds. And how those documents are stored at the server, namespaced by cluster. Pure.
import { createHash } from "node:crypto";
import type { Discovery } from "../../gen/gantry/relay/v1/relay_pb.js";
import { clusterLabel, discoveredNameLabel, parseRefKey, refKey } from "../../resources/index.js";
import type { ResourceDocument, ResourceKey } from "../../store/index.js";
import { canonicalJson } from "../../store/index.js";

export interface DiscoveredDocument {
  readonly key: string;
  readonly hash: string;
  readonly json: string;
}

/** The discovered documents by key. */
export type DiscoveredSet = ReadonlyMap<string, DiscoveredDocument>;

/** The kinds an agent may send up; the rest stays at the server. */
export const discoveredKinds: readonly string[] = ["Destination"];

export { discoveredNameLabel };

export class DiscoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DiscoveryError";
  }
}

function hashOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** A document as sent up: its canonical JSON and hash. */
export function discoveredDocument(key: string, document: unknown): DiscoveredDocument {
  const json = canonicalJson(document);
  return { key, hash: hashOf(json), json };
}

/** The hash of a whole set: its keys and document hashes, in key order. */
export function discoveryHash(set: DiscoveredSet): string {
  const hash = createHash("sha256");
  for (const key of [...set.keys()].sort())
    hash
      .update(key)
      .update("\0")
      .update(set.get(key)?.hash ?? "")
      .update("\n");
  return hash.digest("hex").slice(0, 16);
}

/** The Discovery message taking a server from `previous` (undefined: nothing, send it whole) to `next`. */
export function discoveryMessage(
  previous: DiscoveredSet | undefined,
  next: DiscoveredSet,
  version: bigint,
): Omit<Discovery, "$typeName"> {
  const upserted = [...next.values()]
    .filter((doc) => previous?.get(doc.key)?.hash !== doc.hash)
    .map((doc) => ({ key: doc.key, hash: doc.hash, documentJson: doc.json }));
  const removed = previous ? [...previous.keys()].filter((key) => !next.has(key)).sort() : [];
  return {
    version,
    hash: discoveryHash(next),
    full: previous === undefined,
    baseHash: previous ? discoveryHash(previous) : "",
    upserted: upserted.map((u) => ({ $typeName: "gantry.relay.v1.DiscoveredResource" as const, ...u })),
    removed,
  };
}

/**
 * Applies a Discovery message to what the server holds for a cluster. Throws DiscoveryError when it
 * is a change on another base or does not add up to its hash; the server then asks for it whole.
 */
export function applyDiscovery(current: DiscoveredSet | undefined, message: Discovery): DiscoveredSet {
  const next = new Map<string, DiscoveredDocument>();
  if (!message.full) {
    const base = current ? discoveryHash(current) : "";
    if (current === undefined || message.baseHash !== base) {
      throw new DiscoveryError(
        `discovery ${message.version} changes ${message.baseHash}, but the server holds ${base || "nothing"}`,
      );
    }
    for (const [key, doc] of current) next.set(key, doc);
    for (const key of message.removed) next.delete(key);
  }
  for (const doc of message.upserted) {
    const hash = hashOf(doc.documentJson);
    if (hash !== doc.hash)
      throw new DiscoveryError(`discovery ${message.version}: "${doc.key}" does not match its hash`);
    next.set(doc.key, { key: doc.key, hash, json: doc.documentJson });
  }
  const hash = discoveryHash(next);
  if (hash !== message.hash)
    throw new DiscoveryError(`discovery ${message.version}: the set hashes to ${hash}, not ${message.hash}`);
  return next;
}

/**
 * How a cluster's document is stored at the server: its name gets the cluster as a suffix
 * (`reviews` in `east` is `reviews.east`), so two clusters' same-named Destinations do not clash;
 * it is placed in its cluster (`metadata.clusters`, so it can be a VirtualDestination's member as
 * it is) and labelled with its cluster and its own name. The namespace stays.
 */
export function storedDocument(cluster: string, document: ResourceDocument): ResourceDocument {
  const { name } = document.metadata;
  return {
    ...document,
    metadata: {
      ...document.metadata,
      name: `${name}.${cluster}`,
      clusters: [cluster],
      labels: { ...document.metadata.labels, [clusterLabel]: cluster, [discoveredNameLabel]: name },
    },
  };
}

/**
 * Whether a stored document is `cluster`'s own discovered one (storedDocument's labels), which its
 * agent may overwrite and remove; any other document under that name is a user's.
 */
export function isDiscoveredBy(document: ResourceDocument, cluster: string): boolean {
  const labels = document.metadata.labels ?? {};
  return labels[clusterLabel] === cluster && labels[discoveredNameLabel] !== undefined;
}

/** Parses a discovered document's JSON, naming the cluster and key when it is not a document of an allowed kind. */
export function parseDiscovered(cluster: string, doc: DiscoveredDocument): ResourceDocument {
  let value: unknown;
  try {
    value = JSON.parse(doc.json);
  } catch (err) {
    throw new DiscoveryError(`cluster ${cluster}: ${doc.key}: not JSON: ${(err as Error).message}`);
  }
  const document = value as ResourceDocument;
  if (typeof value !== "object" || value === null || !discoveredKinds.includes(String(document.kind))) {
    throw new DiscoveryError(`cluster ${cluster}: ${doc.key}: kind must be one of ${discoveredKinds.join(", ")}`);
  }
  if (typeof document.metadata?.name !== "string")
    throw new DiscoveryError(`cluster ${cluster}: ${doc.key}: metadata.name is required`);
  return document;
}

export interface DiscoveryWrite {
  /** The stored forms to write, each with where it came from (for errors). */
  readonly writes: { document: ResourceDocument; where: string }[];
  /** Stored keys to delete: this cluster's documents its agent no longer has. */
  readonly gone: ResourceKey[];
  /** Stored keys a user's resource holds (`Kind/namespace/name`), with the discovered document's key. */
  readonly conflicts: Map<string, string>;
}

/**
 * What storing a cluster's discovery changes in the store, given the Destinations it `held`: the
 * documents that changed since `previous` (and those left out last time, `retry`), and those to
 * remove (on a full discovery, every stored document of the cluster it no longer has). A stored
 * name that is not this cluster's own (a user's `reviews.east`) is neither overwritten nor removed:
 * the discovered document is left out and named in `conflicts`. Pure.
 */
export function planDiscoveryWrite(options: {
  cluster: string;
  held: ReadonlyMap<string, ResourceDocument>;
  previous: DiscoveredSet | undefined;
  next: DiscoveredSet;
  full: boolean;
  retry: ReadonlyMap<string, string>;
}): DiscoveryWrite {
  const { cluster, held, previous, next } = options;
  const stored = (doc: DiscoveredDocument) => storedDocument(cluster, parseDiscovered(cluster, doc));
  const keyOf = (document: ResourceDocument): ResourceKey => ({
    kind: document.kind,
    namespace: document.metadata.namespace ?? "default",
    name: document.metadata.name,
  });
  const ours = (key: string) => {
    const document = held.get(key);
    return document === undefined || isDiscoveredBy(document, cluster);
  };
  const writes: DiscoveryWrite["writes"] = [];
  const conflicts = new Map<string, string>();
  const keep = new Set<string>();
  for (const doc of next.values()) {
    const document = stored(doc);
    const key = refKey(keyOf(document));
    keep.add(key);
    if (previous?.get(doc.key)?.hash === doc.hash && !options.retry.has(key)) continue;
    if (!ours(key)) conflicts.set(key, doc.key);
    else writes.push({ document, where: `cluster ${cluster}: ${doc.key}` });
  }
  // On a full discovery, whatever the store holds for this cluster and the agent no longer has goes
  // (written by this or another replica, before a restart of either).
  const candidates: string[] = options.full
    ? [...held].filter(([, document]) => isDiscoveredBy(document, cluster)).map(([key]) => key)
    : [...(previous?.values() ?? [])].map((doc) => refKey(keyOf(stored(doc))));
  const gone = candidates.filter((key) => !keep.has(key) && ours(key)).map(parseRefKey);
  return { writes, gone, conflicts };
}
