import type { XdsResource } from "../envoy/index.js";
import type { Node } from "../gen/envoy/config/core/v3/base_pb.js";
import type { Clock } from "../lib/clock.js";
import { systemClock } from "../lib/clock.js";
import { changesBetween, Snapshot, type SnapshotChanges } from "./snapshot.js";

/** Which view a node gets: nodes that map to the same group share one snapshot. */
export type NodeGroupOf = (node: Node) => string;

/** By default every node has its own view, by node id. */
export const groupByNodeId: NodeGroupOf = (node) => node.id;

/** A snapshot as published for a group, with when each type last changed (for convergence time). */
export interface PublishedSnapshot {
  readonly snapshot: Snapshot;
  /** Clock time (ms) at which each type's contents last changed in this group. */
  readonly changedAt: ReadonlyMap<string, number>;
}

/**
 * Told of every publish for a group: `changes` says what differs from the group's previous snapshot;
 * undefined when there was none (or the group was cleared), so that everything may have changed.
 */
export type SnapshotListener = (published: PublishedSnapshot | undefined, changes: SnapshotChanges | undefined) => void;

export interface SnapshotCacheOptions {
  nodeGroupOf?: NodeGroupOf;
  clock?: Clock;
}

/**
 * The resources each node or group of nodes should have; the protocol servers watch groups and
 * push what changed. The cache serves what it is given: validating resources and checking a
 * snapshot's consistency (`consistencyProblems`) are the caller's job, done before publishing.
 */
export class SnapshotCache {
  readonly groupOf: NodeGroupOf;
  readonly #clock: Clock;
  readonly #published = new Map<string, PublishedSnapshot>();
  readonly #listeners = new Map<string, Set<SnapshotListener>>();
  /**
   * Changes by previous and next snapshot: the groups of a fleet share snapshot objects (the publisher
   * merges once per selection), so one publish is compared once, not once per group.
   */
  readonly #changes = new WeakMap<Snapshot, WeakMap<Snapshot, SnapshotChanges>>();

  constructor(options: SnapshotCacheOptions = {}) {
    this.groupOf = options.nodeGroupOf ?? groupByNodeId;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Publishes a group's resources as given. Resources given as a list become a snapshot first,
   * which throws SnapshotError (and changes nothing) when a name is given twice within a type.
   */
  setSnapshot(group: string, snapshot: Snapshot | Iterable<XdsResource>): void {
    const next = snapshot instanceof Snapshot ? snapshot : Snapshot.of(snapshot);
    const previous = this.#published.get(group);
    const now = this.#clock.now();
    const changedAt = new Map<string, number>();
    for (const typeUrl of new Set([...next.typeUrls, ...(previous?.snapshot.typeUrls ?? [])])) {
      const unchanged = previous && previous.snapshot.version(typeUrl) === next.version(typeUrl);
      changedAt.set(typeUrl, unchanged ? (previous.changedAt.get(typeUrl) ?? now) : now);
    }
    const published: PublishedSnapshot = { snapshot: next, changedAt };
    this.#published.set(group, published);
    this.#notify(group, published, previous && this.#changesBetween(previous.snapshot, next));
  }

  #changesBetween(previous: Snapshot, next: Snapshot): SnapshotChanges {
    let byNext = this.#changes.get(previous);
    if (!byNext) {
      byNext = new WeakMap();
      this.#changes.set(previous, byNext);
    }
    let changes = byNext.get(next);
    if (!changes) {
      changes = changesBetween(previous, next);
      byNext.set(next, changes);
    }
    return changes;
  }

  /** Replaces the resources of one type in a group's snapshot, keeping the other types. */
  setResources(group: string, typeUrl: string, resources: Iterable<XdsResource>): void {
    const current = this.#published.get(group)?.snapshot ?? Snapshot.of([]);
    this.setSnapshot(group, current.withType(typeUrl, resources));
  }

  /** Forgets a group's snapshot; its clients keep what they have and get nothing new. */
  clearSnapshot(group: string): void {
    if (this.#published.delete(group)) this.#notify(group, undefined, undefined);
  }

  snapshot(group: string): PublishedSnapshot | undefined {
    return this.#published.get(group);
  }

  get groups(): string[] {
    return [...this.#published.keys()].sort();
  }

  /** Calls `listener` on every publish for `group`; returns the function that stops it. */
  watch(group: string, listener: SnapshotListener): () => void {
    let listeners = this.#listeners.get(group);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(group, listeners);
    }
    listeners.add(listener);
    return () => {
      const current = this.#listeners.get(group);
      current?.delete(listener);
      if (current?.size === 0) this.#listeners.delete(group);
    };
  }

  #notify(group: string, published: PublishedSnapshot | undefined, changes: SnapshotChanges | undefined): void {
    for (const listener of this.#listeners.get(group) ?? []) listener(published, changes);
  }
}
