import { inPushOrder, isFullStateType, TypeUrl, type XdsResource } from "../envoy/index.js";
import type { DeltaDiscoveryRequest } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import type { PublishedSnapshot } from "./cache.js";
import { withNonce } from "./encoding.js";
import type { Push, StreamInfo } from "./hooks.js";
import type { Snapshot, SnapshotChanges } from "./snapshot.js";
import { type StreamContext, type StreamTransport, subscriptionsTouched, XdsStream } from "./stream.js";

/** What one delta stream knows about one type URL. */
interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  /** What the client holds, name → version: what was sent, or what it reported on reconnect. */
  held: Map<string, string>;
  /** Names just subscribed: each gets an answer, the resource or its absence. */
  toAnswer: Set<string>;
  /** A new wildcard subscription (no names on the first request, or `*`) is answered even when there is nothing to send. */
  answerDue: boolean;
  /** The subscription changed since the last decision. */
  dirty: boolean;
  nonce: string | undefined;
  /** The response sent and not yet ACKed or NACKed; nothing more is sent for this type meanwhile. */
  awaiting: Push | undefined;
  /** When the last response of this type was written. */
  lastPushAt: number | undefined;
  /** The snapshot version of this type the last decision was made against. */
  basis: string | undefined;
  /** Removals (of clusters or endpoints) were held back from the last response. */
  keptStale: boolean;
}

interface Plan {
  readonly state: TypeState;
  readonly updates: XdsResource[];
  removed: string[];
  readonly systemVersion: string;
}

function newState(): TypeState {
  return {
    wildcard: false,
    names: new Set(),
    held: new Map(),
    toAnswer: new Set(),
    answerDue: false,
    dirty: true,
    nonce: undefined,
    awaiting: undefined,
    lastPushAt: undefined,
    basis: undefined,
    keptStale: false,
  };
}

/** What a client holds once it takes a response: `held` with the updates, less the removals. */
function afterPush(
  held: ReadonlyMap<string, string>,
  updates: readonly XdsResource[],
  removed: readonly string[],
): Map<string, string> {
  const next = new Map(held);
  for (const resource of updates) next.set(resource.name, resource.version);
  for (const name of removed) next.delete(name);
  return next;
}

/**
 * One incremental (delta) stream, ADS or per-type. Sends only resources whose version differs
 * from what the client holds, and names that went away in `removed_resources`.
 */
export class DeltaStream extends XdsStream {
  readonly #types = new Map<string, TypeState>();

  constructor(
    context: StreamContext,
    peer: string,
    fixedTypeUrl: string | undefined,
    transport: StreamTransport,
    credential?: string,
  ) {
    super(context, fixedTypeUrl === undefined ? "ads-delta" : "delta", peer, fixedTypeUrl, transport, credential);
  }

  handle(request: DeltaDiscoveryRequest): void {
    const info = this.open(request.node);
    const typeUrl = this.typeUrlOf(request.typeUrl);
    let state = this.#types.get(typeUrl);
    const first = state === undefined;
    if (!state) {
      state = newState();
      this.#types.set(typeUrl, state);
      // On reconnect the client says what it holds, so only what differs is sent again.
      for (const [name, version] of Object.entries(request.initialResourceVersions)) state.held.set(name, version);
      if (request.resourceNamesSubscribe.length === 0) state.wildcard = true;
      state.answerDue = isFullStateType(typeUrl) || state.wildcard;
      if (state.held.size > 0) {
        this.context.hooks.onHeld(info, { typeUrl, holds: new Map(state.held), at: this.context.clock.now() });
      }
    }
    const stale = request.responseNonce !== "" && request.responseNonce !== state.nonce;
    this.context.hooks.onRequest(info, {
      typeUrl,
      nonce: request.responseNonce,
      stale,
      names: request.resourceNamesSubscribe,
      unsubscribed: request.resourceNamesUnsubscribe,
    });
    // A stale nonce still carries subscription changes; it only does not answer the latest response.
    if (request.responseNonce !== "" && !stale && state.awaiting) {
      const push = state.awaiting;
      state.awaiting = undefined;
      const at = this.context.clock.now();
      if (request.errorDetail) {
        this.context.hooks.onNack(info, { push, version: push.version, at, error: request.errorDetail.message });
      } else {
        this.context.hooks.onAck(info, { push, version: push.version, at });
      }
    }
    for (const name of request.resourceNamesSubscribe) {
      if (name === "*") {
        // Answered even when there is nothing to send, as a first request without names is.
        if (!state.wildcard) state.answerDue = true;
        state.wildcard = true;
        continue;
      }
      state.names.add(name);
      state.toAnswer.add(name);
      // A subscribed name is sent again even if the server thinks the client has it, except on reconnect.
      if (!first || !(name in request.initialResourceVersions)) state.held.delete(name);
    }
    for (const name of request.resourceNamesUnsubscribe) {
      if (name === "*") state.wildcard = false;
      else {
        state.names.delete(name);
        state.toAnswer.delete(name);
      }
    }
    const changed = first || request.resourceNamesSubscribe.length > 0 || request.resourceNamesUnsubscribe.length > 0;
    if (changed) {
      // The client drops what it unsubscribed from; forget it so a later subscribe sends it again.
      for (const name of [...state.held.keys()]) {
        if (!state.wildcard && !state.names.has(name)) state.held.delete(name);
      }
      state.dirty = true;
      this.context.hooks.onSubscribe(info, {
        typeUrl,
        wildcard: state.wildcard,
        names: this.context.selections.names([...state.names]),
        at: this.context.clock.now(),
      });
    }
    this.schedulePush();
  }

  protected affectedBy(changes: SnapshotChanges): boolean {
    return subscriptionsTouched(this.#types, changes);
  }

  protected push(info: StreamInfo, published: PublishedSnapshot): void {
    const order = inPushOrder(this.#types.keys());
    const plans = new Map<string, Plan>();
    for (const typeUrl of order) {
      const state = this.#types.get(typeUrl);
      const plan = state && this.#plan(typeUrl, state, published.snapshot);
      if (plan) plans.set(typeUrl, plan);
    }
    this.#keepStaleUpstreams(plans);
    for (const typeUrl of order) {
      const plan = plans.get(typeUrl);
      if (plan && (plan.updates.length > 0 || plan.removed.length > 0 || plan.state.answerDue)) {
        this.#send(info, published, typeUrl, plan);
      }
    }
  }

  #plan(typeUrl: string, state: TypeState, snapshot: Snapshot): Plan | undefined {
    if (state.awaiting) return undefined;
    const systemVersion = snapshot.version(typeUrl);
    if (!state.dirty && !state.keptStale && state.basis === systemVersion) return undefined;
    state.basis = systemVersion;
    state.dirty = false;
    const all = snapshot.resources(typeUrl);
    const updates: XdsResource[] = [];
    for (const name of state.wildcard ? all.keys() : state.names) {
      const resource = all.get(name);
      if (resource && state.held.get(name) !== resource.version) updates.push(resource);
    }
    const removed = new Set<string>();
    for (const name of state.held.keys()) if (!all.has(name)) removed.add(name);
    for (const name of state.toAnswer) if (!all.has(name)) removed.add(name);
    return { state, updates, removed: [...removed], systemVersion };
  }

  /**
   * Make before break: while listener or route updates are going out, the removals of clusters and
   * of their endpoints wait, since routes the client still runs may name them (a removed
   * ClusterLoadAssignment empties a cluster Envoy still routes to). They go once the routes are answered.
   */
  #keepStaleUpstreams(plans: Map<string, Plan>): void {
    const busy = [TypeUrl.listener, TypeUrl.route].some((typeUrl) => {
      const plan = plans.get(typeUrl);
      const pending = plan && (plan.updates.length > 0 || plan.removed.length > 0);
      return pending || this.#types.get(typeUrl)?.awaiting !== undefined;
    });
    for (const typeUrl of [TypeUrl.cluster, TypeUrl.endpoint]) {
      const plan = plans.get(typeUrl);
      if (!plan) continue;
      const held = plan.state.held;
      plan.state.keptStale = busy && plan.removed.some((name) => held.has(name));
      if (plan.state.keptStale) plan.removed = plan.removed.filter((name) => !held.has(name));
    }
  }

  #send(info: StreamInfo, published: PublishedSnapshot, typeUrl: string, plan: Plan): void {
    const { state, updates, removed, systemVersion } = plan;
    const nonce = this.nextNonce();
    const push: Push = {
      typeUrl,
      version: systemVersion,
      nonce,
      resources: updates.length,
      removed: removed.length,
      at: this.context.clock.now(),
      publishedAt: this.publishedAt(published, typeUrl, state.lastPushAt ?? info.openedAt),
      holds: afterPush(state.held, updates, removed),
    };
    state.nonce = nonce;
    state.awaiting = push;
    state.lastPushAt = push.at;
    state.answerDue = false;
    state.held = new Map(push.holds);
    state.toAnswer.clear();
    this.reportPush(info, push);
    this.write(withNonce(this.context.encodings.delta(typeUrl, systemVersion, updates, removed), nonce));
  }
}
