import { inPushOrder, isFullStateType, TypeUrl, type XdsResource } from "../envoy/index.js";
import type { DiscoveryRequest } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import type { PublishedSnapshot } from "./cache.js";
import { withNonce } from "./encoding.js";
import type { Push, StreamInfo } from "./hooks.js";
import { type Snapshot, type SnapshotChanges, versionOfSet } from "./snapshot.js";
import { type StreamContext, type StreamTransport, subscriptionsTouched, XdsStream } from "./stream.js";

/** What one SotW stream knows about one type URL. */
interface TypeState {
  wildcard: boolean;
  /** Shared with the streams that ask for the same names (`Selections.names`): never changed in place. */
  names: ReadonlySet<string>;
  /** Once a type was named, an empty list means "nothing", not wildcard. */
  everNamed: boolean;
  /** The subscription gained names (or changed between wildcard and named): answer even if the contents did not. */
  answerDue: boolean;
  /** A cluster the client held was updated: Envoy re-warms it and expects a fresh EDS response. */
  fresh: boolean;
  nonce: string | undefined;
  /** The response sent and not yet ACKed or NACKed; nothing more is sent for this type meanwhile. */
  awaiting: Push | undefined;
  /** When the last response of this type was written. */
  lastPushAt: number | undefined;
  sentVersion: string | undefined;
  /** What the client holds once it ACKs the last response. */
  sent: ReadonlyMap<string, XdsResource>;
  /** What the client held at its last ACK: a NACK sends it back to this. */
  acked: ReadonlyMap<string, XdsResource>;
  /** The version last NACKed: it is not sent again until the input changes. */
  rejectedVersion: string | undefined;
  /** The snapshot version of this type the last decision was made against. */
  basis: string | undefined;
  /** The subscribed resources the last decision was made on (named subscriptions). */
  planned: readonly XdsResource[];
  /** Clusters the client no longer needs were kept in the last CDS response, to be removed later. */
  keptStale: boolean;
  /** The client reconnected saying which version it runs, and nothing was sent since. */
  resumed: boolean;
}

interface Plan {
  readonly state: TypeState;
  resources: readonly XdsResource[];
  version: string;
}

function newState(): TypeState {
  return {
    wildcard: false,
    names: new Set(),
    everNamed: false,
    answerDue: true,
    fresh: false,
    nonce: undefined,
    awaiting: undefined,
    lastPushAt: undefined,
    sentVersion: undefined,
    sent: new Map(),
    acked: new Map(),
    rejectedVersion: undefined,
    basis: undefined,
    planned: [],
    keptStale: false,
    resumed: false,
  };
}

function sameResources(a: readonly XdsResource[], b: readonly XdsResource[]): boolean {
  return (
    a.length === b.length &&
    a.every((resource, i) => resource.name === b[i]?.name && resource.version === b[i]?.version)
  );
}

function sameSet(a: ReadonlySet<string>, b: readonly string[]): boolean {
  return a.size === b.length && b.every((name) => a.has(name));
}

/**
 * One state-of-the-world stream (ADS, or a per-type service). Knows nothing of Envoy's resources
 * beyond the push order and which types carry the full set.
 */
export class SotwStream extends XdsStream {
  readonly #types = new Map<string, TypeState>();

  constructor(
    context: StreamContext,
    peer: string,
    fixedTypeUrl: string | undefined,
    transport: StreamTransport,
    credential?: string,
  ) {
    super(context, fixedTypeUrl === undefined ? "ads-sotw" : "sotw", peer, fixedTypeUrl, transport, credential);
  }

  /** Takes one request: an ACK, a NACK, a subscription change, or a stale request to ignore. */
  handle(request: DiscoveryRequest): void {
    const info = this.open(request.node);
    const typeUrl = this.typeUrlOf(request.typeUrl);
    let state = this.#types.get(typeUrl);
    // Only the latest nonce of a type counts; anything older was overtaken by a later response.
    const stale = request.responseNonce !== "" && request.responseNonce !== state?.nonce;
    this.context.hooks.onRequest(info, {
      typeUrl,
      nonce: request.responseNonce,
      stale,
      names: request.resourceNames,
      unsubscribed: [],
    });
    if (stale) return;
    if (state && request.responseNonce !== "") {
      const push = state.awaiting;
      if (push) {
        state.awaiting = undefined;
        const at = this.context.clock.now();
        if (request.errorDetail) {
          state.rejectedVersion = push.version;
          state.sent = state.acked;
          this.context.hooks.onNack(info, {
            push,
            version: request.versionInfo,
            at,
            error: request.errorDetail.message,
          });
        } else {
          state.rejectedVersion = undefined;
          state.acked = state.sent;
          this.context.hooks.onAck(info, { push, version: request.versionInfo, at });
        }
      }
    }
    const first = state === undefined;
    if (!state) {
      state = newState();
      this.#types.set(typeUrl, state);
    }
    if (this.#subscribe(state, request.resourceNames) || first) {
      this.context.hooks.onSubscribe(info, {
        typeUrl,
        wildcard: state.wildcard,
        names: state.names,
        at: this.context.clock.now(),
      });
    }
    if (first && request.versionInfo !== "") {
      // A reconnecting client says which version it runs; versions are content hashes, stable across
      // server restarts, so it is answered only if its version is not the current one.
      state.sentVersion = request.versionInfo;
      state.answerDue = false;
      state.resumed = true;
    }
    this.schedulePush();
  }

  /**
   * True when the subscription changed. Only a gain needs an answer (new names, or a switch between
   * wildcard and names): a client drops what it unsubscribes from by itself, so names that only left
   * are forgotten from what it holds (asked for again later, they are sent again) and nothing is sent.
   * Go and C-core gRPC open a stream per target and move their cluster watches on every route change:
   * answering each narrowing with the whole set re-sent unchanged clusters and endpoints to them.
   */
  #subscribe(state: TypeState, requested: readonly string[]): boolean {
    const names = requested.filter((name) => name !== "*");
    const wildcard = requested.includes("*") || (requested.length === 0 && !state.everNamed);
    if (names.length > 0) state.everNamed = true;
    if (wildcard === state.wildcard && sameSet(state.names, names)) return false;
    const gained = wildcard !== state.wildcard || names.some((name) => !state.names.has(name));
    state.wildcard = wildcard;
    state.names = this.context.selections.names(names);
    if (gained) state.answerDue = true;
    if (!wildcard) this.#forgetUnsubscribed(state);
    return true;
  }

  /** The client holds only what it still asks for; the version it holds is that set's. */
  #forgetUnsubscribed(state: TypeState): void {
    const keep = (held: ReadonlyMap<string, XdsResource>) =>
      new Map([...held].filter(([name]) => state.names.has(name)));
    state.sent = keep(state.sent);
    state.acked = keep(state.acked);
    // A resumed client's holdings are unknown (only its version is): it keeps the version it gave.
    if (state.sentVersion !== undefined && !state.resumed) state.sentVersion = versionOfSet(state.sent.values());
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
    this.#keepStaleClusters(plans);
    for (const typeUrl of order) {
      const state = this.#types.get(typeUrl);
      // A cluster update sent just now makes a fresh EDS response due in this same pass.
      const plan = plans.get(typeUrl) ?? (state?.fresh ? this.#plan(typeUrl, state, published.snapshot) : undefined);
      if (plan && this.#due(typeUrl, plan)) this.#send(info, published, typeUrl, plan);
      else if (plan && state?.resumed && plan.version === state.sentVersion) {
        // The reconnected client runs the current version: it holds what would have been sent.
        state.resumed = false;
        const holding = this.context.holdings.of(typeUrl, plan.version, plan.resources);
        state.sent = holding.byName;
        state.acked = state.sent;
        this.context.hooks.onHeld(info, { typeUrl, holds: holding.versions, at: this.context.clock.now() });
      }
    }
  }

  #plan(typeUrl: string, state: TypeState, snapshot: Snapshot): Plan | undefined {
    if (state.awaiting) return undefined;
    const typeVersion = snapshot.version(typeUrl);
    const settled = !state.answerDue && !state.fresh && !state.keptStale;
    if (settled && state.basis === typeVersion) return undefined;
    state.basis = typeVersion;
    const all = snapshot.resources(typeUrl);
    if (state.wildcard) return { state, resources: this.context.selections.every(all), version: typeVersion };
    // Worked out once per snapshot type and name set, for every stream that asks alike.
    const { resources, version } = this.context.selections.select(all, state.names);
    // A change elsewhere in the type (another target's routes) leaves this client as it was.
    if (settled && (resources === state.planned || sameResources(state.planned, resources))) return undefined;
    state.planned = resources;
    return { state, resources, version };
  }

  /**
   * Clusters that routes may still name are removed last: while listener or route updates are
   * going out, a CDS response keeps the clusters the client had, and a later one drops them.
   */
  #keepStaleClusters(plans: Map<string, Plan>): void {
    const clusters = plans.get(TypeUrl.cluster);
    if (!clusters) return;
    clusters.state.keptStale = false;
    const busy = [TypeUrl.listener, TypeUrl.route].some(
      (typeUrl) => plans.has(typeUrl) || this.#types.get(typeUrl)?.awaiting !== undefined,
    );
    if (!busy || clusters.state.sent.size === 0) return;
    const wanted = new Set(clusters.resources.map((resource) => resource.name));
    const stale = [...clusters.state.sent.values()].filter((resource) => !wanted.has(resource.name));
    if (stale.length === 0) return;
    clusters.resources = [...clusters.resources, ...stale];
    clusters.version = versionOfSet(clusters.resources);
    clusters.state.keptStale = true;
  }

  #due(typeUrl: string, plan: Plan): boolean {
    const { state, version } = plan;
    if (version === state.rejectedVersion && !state.answerDue) return false;
    if (!state.answerDue && !state.fresh && version === state.sentVersion) return false;
    // Partial types answer names, not the whole set: an empty first answer to names would tell nothing.
    // A wildcard subscription is answered even when the set is empty: its client waits for that first
    // answer to finish initializing (envoyproxy/ratelimit, Gantry's services, Envoy's LDS and CDS).
    const empty = plan.resources.length === 0 && state.sentVersion === undefined;
    if (empty && !state.wildcard && !isFullStateType(typeUrl)) return false;
    return true;
  }

  /**
   * What goes into a response. LDS and CDS carry the full set (absence is deletion). EDS, RDS and
   * other types subscribed by name may be partial: only the resources the client does not hold at
   * this version go out (on a change, what changed; on new names, the resources they name), unless a
   * fresh response is due. A wildcard subscription always gets the full set: its client takes each
   * response as everything there is (envoyproxy/ratelimit and Gantry's services read AuthConfigs and
   * RateLimitConfigs so), and only the full set can tell it that one was removed. Undefined when
   * there is nothing to send: the client holds every resource it asked for, as they are.
   */
  #body(typeUrl: string, plan: Plan): readonly XdsResource[] | undefined {
    const { state, resources } = plan;
    const partial =
      this.context.partialSotwUpdates &&
      !isFullStateType(typeUrl) &&
      !state.wildcard &&
      state.sentVersion !== undefined &&
      !state.fresh;
    if (!partial) return resources;
    const changed = resources.filter((resource) => state.sent.get(resource.name)?.version !== resource.version);
    return changed.length > 0 ? changed : undefined;
  }

  /**
   * Whether a response changes a resource the client holds (not only adds or removes some). A
   * resumed client's holdings are unknown: any other version counts as a change.
   */
  #updatesHeld({ state, resources, version }: Plan): boolean {
    if (state.resumed) return state.sentVersion !== version;
    return resources.some((resource) => {
      const held = state.sent.get(resource.name);
      return held !== undefined && held.version !== resource.version;
    });
  }

  #send(info: StreamInfo, published: PublishedSnapshot, typeUrl: string, plan: Plan): void {
    const { state, resources, version } = plan;
    const body = this.#body(typeUrl, plan);
    const clustersUpdated = typeUrl === TypeUrl.cluster && body !== undefined && this.#updatesHeld(plan);
    state.resumed = false;
    state.answerDue = false;
    const holding = this.context.holdings.of(typeUrl, version, resources);
    if (!body) {
      state.sentVersion = version;
      state.sent = holding.byName;
      state.acked = state.sent;
      this.context.hooks.onHeld(info, { typeUrl, holds: holding.versions, at: this.context.clock.now() });
      return;
    }
    const nonce = this.nextNonce();
    const push: Push = {
      typeUrl,
      version,
      nonce,
      resources: body.length,
      removed: 0,
      at: this.context.clock.now(),
      publishedAt: this.publishedAt(published, typeUrl, state.lastPushAt ?? info.openedAt),
      holds: holding.versions,
    };
    state.nonce = nonce;
    state.awaiting = push;
    state.lastPushAt = push.at;
    state.sentVersion = version;
    state.sent = holding.byName;
    state.fresh = false;
    if (clustersUpdated) {
      const endpoints = this.#types.get(TypeUrl.endpoint);
      if (endpoints) endpoints.fresh = true;
    }
    this.reportPush(info, push);
    this.write(withNonce(this.context.encodings.sotw(typeUrl, version, body, body === resources), nonce));
  }
}
