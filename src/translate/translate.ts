import type { MessageShape } from "@bufbuild/protobuf";
import { ClusterSchema } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { type Route, RouteSchema, VirtualHostSchema } from "../gen/envoy/config/route/v3/route_components_pb.js";
import { RouteConfigurationSchema } from "../gen/envoy/config/route/v3/route_pb.js";
import { SecretSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { kindKey, type RejectedDocument, type Resource } from "../resources/index.js";
import { buildCluster, buildServiceCluster } from "./envoy/cluster.js";
import { serviceClusters } from "./envoy/common.js";
import { buildLoadAssignment } from "./envoy/endpoint.js";
import { type FilterNeeds, filterNeeds } from "./envoy/filters.js";
import { buildApiListener, buildListener } from "./envoy/listener.js";
import { buildRoute, buildRouteConfiguration, buildVirtualHost, type ClientKind } from "./envoy/route.js";
import { buildSecret } from "./envoy/secret.js";
import type {
  Model,
  ModelCluster,
  ModelGateway,
  ModelListener,
  ModelRateLimitDomain,
  ModelRoute,
  ProxySelection,
} from "./model.js";
import { normalize, RouteMemo } from "./normalize/index.js";
import { type EnvoyResource, encode, sortResources } from "./output.js";
import { State, type Status } from "./status.js";
import { type Violation, validateMessage } from "./validate.js";

/** Where Envoy reaches Gantry's own services. Without them, the bootstrap must define the clusters. */
export interface TranslateOptions {
  extAuth?: { host: string; port: number };
  rateLimit?: { host: string; port: number };
}

/** The configuration of the proxies one gateway selects. */
export interface ProxyGroup {
  /** The gateway's `namespace/name`. */
  name: string;
  kind: "envoy" | "grpc";
  proxies: ProxySelection;
  /** Sorted by type URL, then name. */
  resources: EnvoyResource[];
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

export interface Translation {
  groups: ProxyGroup[];
  /** Every resource's status, by `Kind/namespace/name`, in key order. */
  statuses: Map<string, Status>;
  /** For the rate-limit servers: each RateLimitPolicy's domain and descriptors. */
  rateLimits: ModelRateLimitDomain[];
  /** For the ext-auth servers: the AuthConfig ids routes name. */
  authConfigIds: string[];
}

interface Built<T> {
  id: number;
  value: T;
  violations: Violation[];
}

/** Caches keyed by content; each translation keeps only what it used, so memory stays bounded. */
/** The routes of one virtual host, built and checked. */
interface BuiltHost {
  routes: Route[];
  /** The built routes' ids: equal ids, equal routes. */
  ids: string;
  clusters: string[];
  problems: { origins: string[]; violations: Violation[]; what: string }[];
}

class Generation {
  checks = new Map<string, Violation[]>();
  encoded = new Map<string, Built<EnvoyResource>>();
}

const clusterKeys = new WeakMap<ModelCluster, { cluster: string; eds: string }>();

/**
 * Content keys of a cluster and its endpoints, made once per model cluster: the same string
 * object each time, so map lookups need not hash it again.
 */
function clusterKey(cluster: ModelCluster): { cluster: string; eds: string } {
  let keys = clusterKeys.get(cluster);
  if (keys === undefined) {
    const json = JSON.stringify(cluster);
    keys = { cluster: `cluster|${json}`, eds: `eds|${json}` };
    clusterKeys.set(cluster, keys);
  }
  return keys;
}

/**
 * Translates resources to Envoy configuration per gateway. Keeps the previous translation's
 * built and encoded pieces, so a change re-builds only what depends on it, and each group's last
 * good resources, so a translation that fails validation never reaches the proxies.
 */
export class Translator {
  #previous = new Generation();
  #current = new Generation();
  #nextId = 1;
  readonly #lastGood = new Map<string, EnvoyResource[]>();
  readonly #routeMemo = new RouteMemo();
  readonly #byRoute = new WeakMap<ModelRoute, Map<string, Built<Route>>>();
  readonly #groupOutputs = new Map<string, { ids: string; resources: EnvoyResource[] }>();
  readonly #hosts = new WeakMap<readonly ModelRoute[], Map<string, BuiltHost>>();
  readonly #hostNeeds = new WeakMap<readonly ModelRoute[], Map<ClientKind, FilterNeeds>>();

  constructor(private readonly options: TranslateOptions = {}) {}

  translate(resources: readonly Resource[], rejected: readonly RejectedDocument[] = []): Translation {
    this.#current = new Generation();
    const { model, statuses } = normalize(resources, rejected, this.#routeMemo);
    const groups: ProxyGroup[] = [];
    for (const gateway of model.gateways) {
      const blame = new Map<string, Set<string>>();
      const resourcesOut = this.#buildGroup(gateway, model, blame);
      if (blame.size === 0) {
        this.#lastGood.set(gateway.name, resourcesOut);
        groups.push({ ...groupOf(gateway), resources: resourcesOut });
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
      groups.push({
        ...groupOf(gateway),
        resources: this.#lastGood.get(gateway.name) ?? [],
        rejected: problems,
      });
    }
    const live = new Set(model.gateways.map((g) => g.name));
    for (const name of this.#lastGood.keys()) if (!live.has(name)) this.#lastGood.delete(name);
    for (const name of this.#groupOutputs.keys()) if (!live.has(name)) this.#groupOutputs.delete(name);
    this.#previous = this.#current;
    return { groups, statuses: statuses.all(), rateLimits: model.rateLimits, authConfigIds: model.authConfigIds };
  }

  #buildGroup(gateway: ModelGateway, model: Model, blame: Map<string, Set<string>>): EnvoyResource[] {
    const out: Built<EnvoyResource>[] = [];
    const emit = (built: Built<EnvoyResource>) => out.push(built);
    const client: ClientKind = gateway.kind;
    const gatewayKey = kindKey("Gateway", gateway.name);
    const report = (keys: Iterable<string>, violations: Violation[], what: string) => {
      for (const key of keys) {
        const set = blame.get(key) ?? new Set<string>();
        for (const v of violations) set.add(`${what}: ${v.path || "(root)"}: ${v.message}`);
        blame.set(key, set);
      }
    };
    const clusters = new Set<string>();
    let needsExtAuth = false;
    let needsRateLimit = false;
    for (const listener of gateway.listeners) {
      const needs = listener.virtualHosts
        .map((v) => this.#needs(v.routes, client))
        .reduce<FilterNeeds>(
          (a, b) => ({
            cors: a.cors || b.cors,
            fault: a.fault || b.fault,
            extAuth: a.extAuth || b.extAuth,
            rateLimit: a.rateLimit || b.rateLimit,
          }),
          { cors: false, fault: false, extAuth: false, rateLimit: false },
        );
      needsExtAuth ||= needs.extAuth;
      needsRateLimit ||= needs.rateLimit;
      const routeConfigName = `${gateway.name}/${listener.name}`;
      const vhostKeys: string[] = [];
      const builtVhosts = listener.virtualHosts.map((vhost) => {
        const built = this.#host(vhost.routes, client, needs.extAuth);
        for (const problem of built.problems) report(problem.origins, problem.violations, problem.what);
        for (const cluster of built.clusters) clusters.add(cluster);
        // Routes are validated one by one (and cached); the host itself without them.
        const shellKey = `vhost|${vhost.name}|${vhost.domains.join(",")}|${listener.httpsRedirect}`;
        const shell = this.#checked(shellKey, () =>
          validateMessage(VirtualHostSchema, buildVirtualHost(vhost, [], listener.httpsRedirect)),
        );
        if (shell.length > 0) report([kindKey("RouteTable", vhost.name)], shell, `virtual host ${vhost.name}`);
        vhostKeys.push(`${vhost.name}|${vhost.domains.join(",")}|${listener.httpsRedirect}|${built.ids}`);
        return { vhost, routes: built.routes };
      });
      const duplicates = duplicateDomains(listener.virtualHosts.map((v) => ({ name: v.name, domains: v.domains })));
      for (const d of duplicates)
        report([kindKey("RouteTable", d.vhost)], [{ path: "domains", message: d.message }], routeConfigName);
      emit(
        this.#encoded(`route|${routeConfigName}|${vhostKeys.join("\n")}`, () => {
          const message = buildRouteConfiguration(
            routeConfigName,
            builtVhosts.map((b) => buildVirtualHost(b.vhost, b.routes, listener.httpsRedirect)),
          );
          return { resource: encode(RouteConfigurationSchema, routeConfigName, message), violations: [] };
        }),
      );
      if (client === "grpc") {
        const hosts = [...new Set(listener.virtualHosts.flatMap((v) => v.domains))]
          .filter((h) => !h.includes("*"))
          .sort();
        for (const host of hosts) {
          const key = `${routeConfigName}|${JSON.stringify(needs)}`;
          this.#push(
            out,
            ListenerSchema,
            host,
            key,
            () => buildApiListener(host, routeConfigName, needs),
            [gatewayKey],
            report,
          );
        }
      } else {
        const name = `${gateway.name}/${listener.name}`;
        const inputs = {
          address: listener.bindAddress,
          port: listener.port,
          routeConfigName,
          tls: listener.tls,
          needs,
        };
        const key = JSON.stringify(inputs);
        this.#push(out, ListenerSchema, name, key, () => buildListener({ name, ...inputs }), [gatewayKey], report);
      }
    }
    for (const name of [...clusters].sort()) {
      const cluster = model.clusters.get(name);
      if (!cluster) continue;
      const origin = [kindKey("Destination", cluster.destination)];
      const key = clusterKey(cluster);
      const built = this.#encoded(key.cluster, () => {
        const message = buildCluster(cluster);
        return { resource: encode(ClusterSchema, name, message), violations: validateMessage(ClusterSchema, message) };
      });
      if (built.violations.length > 0) report(origin, built.violations, `cluster ${name}`);
      emit(built);
      if (cluster.discovery.type === "static") {
        const endpoints = cluster.discovery.endpoints;
        const eds = this.#encoded(key.eds, () => {
          const message = buildLoadAssignment(name, endpoints);
          return {
            resource: encode(ClusterLoadAssignmentSchema, name, message),
            violations: validateMessage(ClusterLoadAssignmentSchema, message),
          };
        });
        if (eds.violations.length > 0) report(origin, eds.violations, `endpoints of ${name}`);
        emit(eds);
      }
    }
    const services: [boolean, string, { host: string; port: number } | undefined][] = [
      [needsExtAuth, serviceClusters.extAuth, this.options.extAuth],
      [needsRateLimit, serviceClusters.rateLimit, this.options.rateLimit],
    ];
    for (const [needed, name, address] of services) {
      if (needed && address) {
        const build = () => buildServiceCluster(name, address);
        this.#push(out, ClusterSchema, name, JSON.stringify(address), build, [gatewayKey], report);
      }
    }
    const secrets = new Set<string>();
    for (const listener of gateway.listeners) {
      if (listener.tls) secrets.add(listener.tls.secret);
      if (listener.tls?.clientCa) secrets.add(listener.tls.clientCa);
    }
    for (const name of clusters) {
      const tls = model.clusters.get(name)?.tls;
      if (tls?.caSecret) secrets.add(tls.caSecret);
      if (tls?.clientSecret) secrets.add(tls.clientSecret);
    }
    for (const name of [...secrets].sort()) {
      const secret = model.secrets.get(name);
      if (secret) {
        this.#push(
          out,
          SecretSchema,
          name,
          JSON.stringify(secret),
          () => buildSecret(secret),
          [kindKey("Secret", name)],
          report,
        );
      }
    }
    // Unchanged pieces give the same sorted list as last time, without sorting again.
    const ids = out.map((b) => b.id).join(",");
    const previous = this.#groupOutputs.get(gateway.name);
    if (previous?.ids === ids) return previous.resources;
    const resources = sortResources(out.map((b) => b.value));
    this.#groupOutputs.set(gateway.name, { ids, resources });
    return resources;
  }

  /** Builds, validates and encodes a resource unless the same inputs (`key`) were seen before. */
  #push<S extends typeof ListenerSchema | typeof ClusterSchema | typeof SecretSchema>(
    out: Built<EnvoyResource>[],
    schema: S,
    name: string,
    key: string,
    build: () => MessageShape<S>,
    origins: string[],
    report: (keys: Iterable<string>, violations: Violation[], what: string) => void,
  ): void {
    const built = this.#encoded(`${schema.typeName}|${name}|${key}`, () => {
      const message = build();
      return { resource: encode(schema, name, message), violations: validateMessage(schema, message) };
    });
    if (built.violations.length > 0) report(origins, built.violations, `${schema.name} ${name}`);
    out.push(built);
  }

  /** Which filters a route table's routes need; kept per routes array (see RouteMemo). */
  #needs(routes: readonly ModelRoute[], client: ClientKind): FilterNeeds {
    const byClient = this.#hostNeeds.get(routes) ?? new Map<ClientKind, FilterNeeds>();
    let needs = byClient.get(client);
    if (!needs) {
      needs = filterNeeds(routes, client);
      byClient.set(client, needs);
      this.#hostNeeds.set(routes, byClient);
    }
    return needs;
  }

  /** A route table's routes built and checked, with the clusters they use; kept per routes array. */
  #host(routes: readonly ModelRoute[], client: ClientKind, extAuth: boolean): BuiltHost {
    const variant = `${client}|${extAuth}`;
    const variants = this.#hosts.get(routes) ?? new Map<string, BuiltHost>();
    let host = variants.get(variant);
    if (!host) {
      const built = routes.map((route) => this.#route(route, client, extAuth));
      host = {
        routes: built.map((b) => b.value),
        ids: built.map((b) => b.id).join(","),
        clusters: [
          ...new Set(
            routes.flatMap((r) => (r.action.type === "forward" ? r.action.destinations.map((d) => d.cluster) : [])),
          ),
        ],
        problems: built.flatMap((b, i) => {
          const route = routes[i];
          return b.violations.length > 0 && route
            ? [{ origins: route.origins, violations: b.violations, what: `route ${route.name}` }]
            : [];
        }),
      };
      variants.set(variant, host);
      this.#hosts.set(routes, variants);
    }
    return host;
  }

  /**
   * A built and checked Envoy route. Unchanged route tables give the very same model routes (see
   * RouteMemo), so routes are kept by model object: a changed route table's routes are rebuilt.
   */
  #route(route: ModelRoute, client: ClientKind, extAuth: boolean): Built<Route> {
    const variant = `${client}|${extAuth}`;
    const variants = this.#byRoute.get(route) ?? new Map<string, Built<Route>>();
    let built = variants.get(variant);
    if (!built) {
      const value = buildRoute(route, client, extAuth);
      built = { id: this.#nextId++, value, violations: validateMessage(RouteSchema, value) };
      variants.set(variant, built);
      this.#byRoute.set(route, variants);
    }
    return built;
  }

  /** Violations of a check that depends only on `key`. */
  #checked(key: string, check: () => Violation[]): Violation[] {
    let violations = this.#current.checks.get(key) ?? this.#previous.checks.get(key);
    violations ??= check();
    this.#current.checks.set(key, violations);
    return violations;
  }

  #encoded(key: string, build: () => { resource: EnvoyResource; violations: Violation[] }): Built<EnvoyResource> {
    const cached = this.#current.encoded.get(key) ?? this.#previous.encoded.get(key);
    if (cached) {
      this.#current.encoded.set(key, cached);
      return cached;
    }
    const { resource, violations } = build();
    const built = { id: this.#nextId++, value: resource, violations };
    this.#current.encoded.set(key, built);
    return built;
  }
}

/** A group's description of itself, taken from its model gateway. */
function groupOf(gateway: ModelGateway): Omit<ProxyGroup, "resources" | "rejected"> {
  return {
    name: gateway.name,
    kind: gateway.kind,
    proxies: gateway.proxies,
    origins: gateway.origins,
    listeners: gateway.listeners,
  };
}

/** Envoy rejects a route configuration in which two virtual hosts claim one domain. */
export function duplicateDomains(vhosts: { name: string; domains: string[] }[]): { vhost: string; message: string }[] {
  const owner = new Map<string, string>();
  const out: { vhost: string; message: string }[] = [];
  for (const vhost of vhosts) {
    for (const domain of vhost.domains) {
      const first = owner.get(domain.toLowerCase());
      if (first !== undefined)
        out.push({ vhost: vhost.name, message: `domain "${domain}" is also in virtual host ${first}` });
      else owner.set(domain.toLowerCase(), vhost.name);
    }
  }
  return out;
}

/** A one-off translation (no previous state). */
export function translate(
  resources: readonly Resource[],
  options: TranslateOptions = {},
  rejected: readonly RejectedDocument[] = [],
): Translation {
  return new Translator(options).translate(resources, rejected);
}
