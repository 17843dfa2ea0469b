import type { XdsResource as EnvoyResource } from "../envoy/index.js";
import { kindKey, type RejectedDocument, type Resource, resourceKey } from "../resources/index.js";
import { Memo } from "./memo.js";
import type { GatewayKind, ModelGateway, ModelListener, ModelRateLimitDomain, ProxySelection } from "./model.js";
import { defaultTrustDomain, type Normalized, normalize, RouteMemo, routeTableRejected } from "./normalize/index.js";
import { type OpenApiResults, reportOpenApi } from "./openapi-status.js";
import { processAuthConfigs } from "./process/auth-configs.js";
import { type Compute, memoizedCompute } from "./process/compute.js";
import { buildGroup, type ServiceAddresses } from "./process/group.js";
import { processRateLimitConfigs, type RefusedDomain } from "./process/rate-limit-configs.js";
import { State, type Status } from "./status.js";

/**
 * Where Envoy reaches Gantry's own services (without them, the bootstrap must define the clusters),
 * and the SPIFFE trust domain of workload identities (default `gantry.local`).
 */
export type TranslateOptions = ServiceAddresses & { trustDomain?: string };

/** What the edges learnt, asynchronously, about the resources: given to each translation. */
export interface TranslateInputs {
  /** The checks of ApiProducts' OpenAPI documents, by source (src/openapi `sourceKey`). */
  openApi?: OpenApiResults;
}

/** The configuration of the proxies one gateway selects. */
export interface ProxyGroup {
  /** The gateway's `namespace/name`. */
  name: string;
  kind: GatewayKind;
  proxies: ProxySelection;
  /** Sorted by type URL, then name. */
  resources: EnvoyResource[];
  /**
   * By workload cluster of the caller: resources that replace those of the same name in `resources`
   * for proxies of that cluster (a VirtualDestination's endpoints, the caller's own cluster first).
   * Only clusters whose view differs are here; the rest get `resources` as they are.
   */
  byCallerCluster?: ReadonlyMap<string, EnvoyResource[]>;
  /** The resources (`Kind/namespace/name`) the group's configuration was made from. */
  origins: ReadonlySet<string>;
  /**
   * What the group serves, as this translation modelled it: listeners, their route tables
   * (virtual hosts) and routes, each route with the resources it came from and the policies
   * applied to it. Shared with the translator's memo: read only.
   */
  listeners: readonly ModelListener[];
  /**
   * Set when this translation failed validation for the group: `resources` are then the last
   * good ones (or empty if there never were any), so proxies keep what they have.
   */
  rejected?: string[];
}

/** Everything Gantry serves, made from one desired state. */
export interface Translation {
  groups: ProxyGroup[];
  /** Every resource's status, by `Kind/namespace/name`, in key order. */
  statuses: Map<string, Status>;
  /** Each RateLimitPolicy's domain and descriptors. */
  rateLimits: ModelRateLimitDomain[];
  /** The AuthConfig ids routes name. */
  authConfigIds: string[];
  /** For the ext-auth servers: the AuthConfigs routes name, each by its config id. */
  authConfigs: EnvoyResource[];
  /** For the rate-limit servers: one RateLimitConfig per domain, sorted by domain. */
  rateLimitConfigs: EnvoyResource[];
  /** Domains a rate-limit server would refuse; `rateLimitConfigs` has their last good config, if any; their policies' statuses say why. */
  refusedDomains: RefusedDomain[];
}

/**
 * Translates resources to everything Gantry serves. Keeps what it computed, by its inputs, so a
 * change re-builds only what depends on it, and each group's last good resources, so a
 * translation that fails validation never reaches the proxies.
 */
export class Translator {
  readonly #memo = new Memo();
  readonly #compute: Compute = memoizedCompute(this.#memo);
  readonly #routeMemo = new RouteMemo();
  readonly #lastGood = new Map<string, Pick<ProxyGroup, "resources" | "byCallerCluster">>();
  /** Each route table's last version served whole (a table is never applied in part). */
  readonly #lastGoodRouteTables = new Map<string, Resource>();
  /** Each rate-limit domain's last config a rate-limit server would take. */
  readonly #lastGoodDomains = new Map<string, EnvoyResource>();

  constructor(private readonly options: TranslateOptions = {}) {}

  translate(
    resources: readonly Resource[],
    rejected: readonly RejectedDocument[] = [],
    inputs: TranslateInputs = {},
  ): Translation {
    this.#memo.begin();
    const { model, statuses } = this.#normalizeWhole(resources, rejected);
    if (inputs.openApi) reportOpenApi(resources, model.gateways, inputs.openApi, statuses);
    const groups: ProxyGroup[] = [];
    for (const gateway of model.gateways) {
      const { resources: built, byCallerCluster, blame } = buildGroup(gateway, model, this.#compute, this.options);
      if (blame.size === 0) {
        this.#lastGood.set(gateway.name, { resources: built, byCallerCluster });
        groups.push({ ...groupOf(gateway), resources: built, byCallerCluster });
        continue;
      }
      const problems: string[] = [];
      for (const [key, messages] of blame) {
        for (const message of messages) {
          statuses.report(key, State.INVALID, `rejected by validation for Gateway ${gateway.name}: ${message}`);
          problems.push(`${key}: ${message}`);
        }
      }
      statuses.report(
        kindKey("Gateway", gateway.name),
        State.INVALID,
        "the proxies keep their last good configuration",
      );
      const lastGood = this.#lastGood.get(gateway.name) ?? { resources: [], byCallerCluster: new Map() };
      groups.push({ ...groupOf(gateway), ...lastGood, rejected: problems });
    }
    const live = new Set(model.gateways.map((g) => g.name));
    for (const name of this.#lastGood.keys()) if (!live.has(name)) this.#lastGood.delete(name);
    const rateLimitConfigs = this.#keepLastGoodDomains(processRateLimitConfigs(model, statuses));
    const authConfigs = processAuthConfigs(resources, model);
    this.#memo.commit();
    return {
      groups,
      statuses: statuses.all(),
      rateLimits: model.rateLimits,
      authConfigIds: model.authConfigIds,
      authConfigs,
      rateLimitConfigs: rateLimitConfigs.configs,
      refusedDomains: rateLimitConfigs.refused,
    };
  }

  /**
   * Normalizes, then serves each route table that cannot be served whole (a route whose matchers
   * Envoy or a gRPC client would refuse) at its last accepted version, or not at all: a table
   * applied in part could send a dropped route's traffic to a broader route below it.
   */
  #normalizeWhole(resources: readonly Resource[], rejected: readonly RejectedDocument[]): Normalized {
    const trustDomain = this.options.trustDomain ?? defaultTrustDomain;
    const first = normalize(resources, rejected, this.#routeMemo, trustDomain);
    const refused = new Map<string, string[]>();
    for (const [key, status] of first.statuses.all()) {
      if (key.startsWith("RouteTable/") && status.messages.includes(routeTableRejected)) {
        refused.set(key, status.messages);
      }
    }
    let result = first;
    let served = resources;
    if (refused.size > 0) {
      served = resources.flatMap((resource) => {
        const key = resourceKey(resource);
        if (!refused.has(key)) return [resource];
        const lastGood = this.#lastGoodRouteTables.get(key);
        return lastGood ? [lastGood] : [];
      });
      result = normalize(served, rejected, this.#routeMemo, trustDomain);
      for (const [key, messages] of refused) {
        for (const message of messages) result.statuses.report(key, State.INVALID, message);
        result.statuses.report(
          key,
          State.INVALID,
          this.#lastGoodRouteTables.has(key)
            ? "its last accepted version keeps serving"
            : "not served until it is fixed (no version of it was accepted before)",
        );
      }
    }
    const live = new Set<string>();
    for (const resource of served) {
      if (resource.kind !== "RouteTable") continue;
      const key = resourceKey(resource);
      live.add(key);
      if (!refused.has(key)) this.#lastGoodRouteTables.set(key, resource);
    }
    for (const key of this.#lastGoodRouteTables.keys()) if (!live.has(key)) this.#lastGoodRouteTables.delete(key);
    return result;
  }

  /**
   * A refused domain keeps its last good config in the output: rate-limit servers take each answer
   * as the whole set, so leaving it out would drop its limits instead of keeping them.
   */
  #keepLastGoodDomains(result: ReturnType<typeof processRateLimitConfigs>): ReturnType<typeof processRateLimitConfigs> {
    const configs = [...result.configs];
    for (const config of result.configs) this.#lastGoodDomains.set(config.name, config);
    for (const { domain } of result.refused) {
      const lastGood = this.#lastGoodDomains.get(domain);
      if (lastGood) configs.push(lastGood);
    }
    const live = new Set([...result.configs.map((c) => c.name), ...result.refused.map((r) => r.domain)]);
    for (const domain of this.#lastGoodDomains.keys()) if (!live.has(domain)) this.#lastGoodDomains.delete(domain);
    configs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { configs, refused: result.refused };
  }
}

/** A group's description of itself, taken from its model gateway. */
function groupOf(gateway: ModelGateway): Omit<ProxyGroup, "resources" | "byCallerCluster" | "rejected"> {
  return {
    name: gateway.name,
    kind: gateway.kind,
    proxies: gateway.proxies,
    origins: gateway.origins,
    listeners: gateway.listeners,
  };
}

/** A one-off translation (no previous state). */
export function translate(
  resources: readonly Resource[],
  options: TranslateOptions = {},
  rejected: readonly RejectedDocument[] = [],
): Translation {
  return new Translator(options).translate(resources, rejected);
}
