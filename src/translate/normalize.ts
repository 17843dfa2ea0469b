import { isIP } from "node:net";
import type { RouteTarget } from "../gen/gantry/v1/common_pb.js";
import type { DestinationSpec } from "../gen/gantry/v1/destination_pb.js";
import { UpstreamProtocol } from "../gen/gantry/v1/destination_pb.js";
import {
  type GatewayListener,
  Protocol,
  ProxyKind,
  type RouteTableSelector,
  TlsMode,
} from "../gen/gantry/v1/gateway_pb.js";
import type { HttpRoute, RequestMatcher } from "../gen/gantry/v1/route_table_pb.js";
import {
  type Kind,
  matchesLabels,
  matchesSelector,
  type RejectedDocument,
  type Resource,
  type ResourceOf,
  refName,
  resourceKey,
} from "../resources/index.js";
import { durationMs } from "./durations.js";
import type {
  Model,
  ModelAction,
  ModelCluster,
  ModelGateway,
  ModelListener,
  ModelMatch,
  ModelRoute,
  ModelRoutePolicies,
  ModelSecret,
  ModelVirtualHost,
} from "./model.js";
import { State, StatusCollector } from "./status.js";

export interface Normalized {
  model: Model;
  statuses: StatusCollector;
}

type Named<K extends Kind> = Map<string, ResourceOf<K>>;

const headerName = /^:?[0-9a-z!#$%&'*+\-.^_|~`]+$/;
const defaultConnectTimeoutMs = 5000;

function byKey<T extends Resource>(resources: T[]): T[] {
  return resources.sort((a, b) => {
    const ka = resourceKey(a);
    const kb = resourceKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

function nsName(resource: Resource): string {
  return `${resource.metadata.namespace}/${resource.metadata.name}`;
}

function validRegex(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Resources grouped by kind, keyed by `namespace/name`, in key order. */
class Index {
  readonly byKind = new Map<Kind, Map<string, Resource>>();

  constructor(resources: readonly Resource[]) {
    for (const resource of byKey([...resources])) {
      let named = this.byKind.get(resource.kind);
      if (!named) {
        named = new Map();
        this.byKind.set(resource.kind, named);
      }
      named.set(nsName(resource), resource);
    }
  }

  of<K extends Kind>(kind: K): Named<K> {
    return (this.byKind.get(kind) ?? new Map()) as Named<K>;
  }
}

/** A policy of any kind, reduced to where it applies and what it adds to a route. */
interface AttachablePolicy {
  key: string;
  kind: Kind;
  namespace: string;
  targets: RouteTarget[];
  apply(route: ModelRoutePolicies): void;
  /** Set when the route already has a policy of this kind: the name of the resource that won. */
  conflictsWith(route: ModelRoutePolicies): boolean;
  conflictState: State;
}

/**
 * Resolves references, flattens delegation, attaches policies by selector and collects every
 * resource's status. Pure: the same resources give the same model.
 */
export function normalize(
  resources: readonly Resource[],
  rejected: readonly RejectedDocument[] = [],
  memo: RouteMemo = new RouteMemo(),
): Normalized {
  const statuses = new StatusCollector();
  for (const doc of rejected) {
    if (doc.kind && doc.name !== undefined && doc.namespace !== undefined) {
      for (const error of doc.errors) statuses.invalid(`${doc.kind}/${doc.namespace}/${doc.name}`, error);
    }
  }
  const index = new Index(resources);
  for (const resource of resources) statuses.accept(resourceKey(resource));

  const secrets = normalizeSecrets(index, statuses);
  const destinations = normalizeDestinations(index, secrets, statuses);
  const policies = normalizePolicies(index, statuses);
  const routes = new RouteFlattener(index, destinations, policies, statuses, memo.reuse(flattenContext(index)));
  const gateways = normalizeGateways(index, secrets, routes, statuses);
  routes.reportUnused();
  for (const policy of policies.all) {
    if (!policies.used.has(policy.key)) statuses.warn(policy.key, "selects no routes");
  }

  const usedClusters = new Map<string, ModelCluster>();
  const usedSecrets = new Map<string, ModelSecret>();
  for (const gateway of gateways) {
    for (const listener of gateway.listeners) {
      if (listener.tls) {
        addSecret(usedSecrets, secrets, listener.tls.secret);
        if (listener.tls.clientCa) addSecret(usedSecrets, secrets, listener.tls.clientCa);
      }
      for (const vhost of listener.virtualHosts) {
        for (const route of vhost.routes) {
          if (route.action.type !== "forward") continue;
          for (const { cluster } of route.action.destinations) {
            const model = destinations.clusters.get(cluster);
            if (!model) continue;
            usedClusters.set(cluster, model);
            if (model.tls?.caSecret) addSecret(usedSecrets, secrets, model.tls.caSecret);
            if (model.tls?.clientSecret) addSecret(usedSecrets, secrets, model.tls.clientSecret);
          }
        }
      }
    }
  }
  const model: Model = {
    gateways,
    clusters: sortedMap(usedClusters),
    secrets: sortedMap(usedSecrets),
    rateLimits: policies.rateLimits,
    authConfigIds: [...new Set(policies.authConfigIds)].sort(),
  };
  return { model, statuses };
}

function sortedMap<V>(map: Map<string, V>): Map<string, V> {
  return new Map([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function addSecret(used: Map<string, ModelSecret>, all: Map<string, ModelSecret>, name: string): void {
  const secret = all.get(name);
  if (secret) used.set(name, secret);
}

function normalizeSecrets(index: Index, statuses: StatusCollector): Map<string, ModelSecret> {
  const secrets = new Map<string, ModelSecret>();
  for (const [name, secret] of index.of("Secret")) {
    const key = resourceKey(secret);
    const kind = secret.spec.kind;
    const source = (ds: { source: { case: "inline" | "file"; value: string } | { case: undefined } } | undefined) => {
      if (!ds || ds.source.case === undefined || ds.source.value === "") return undefined;
      return ds.source.case === "inline" ? { inline: ds.source.value } : { file: ds.source.value };
    };
    if (kind.case === "tls") {
      const certificateChain = source(kind.value.certificateChain);
      const privateKey = source(kind.value.privateKey);
      if (!certificateChain) statuses.invalid(key, "spec.tls.certificateChain: required (inline or file)");
      if (!privateKey) statuses.invalid(key, "spec.tls.privateKey: required (inline or file)");
      if (certificateChain && privateKey) secrets.set(name, { name, type: "tls", certificateChain, privateKey });
    } else if (kind.case === "ca") {
      const certificates = source(kind.value.certificates);
      if (!certificates) statuses.invalid(key, "spec.ca.certificates: required (inline or file)");
      else secrets.set(name, { name, type: "ca", certificates });
    } else {
      statuses.invalid(key, "spec: one of tls or ca is required");
    }
  }
  return secrets;
}

interface ResolvedDestinations {
  /** Valid destinations by `namespace/name`. */
  byName: Map<string, { resource: ResourceOf<"Destination">; ports: number[]; subsets: Set<string> }>;
  clusters: Map<string, ModelCluster>;
}

/** The cluster name of a destination port, and subset. */
export function clusterName(destination: string, port: number, subset: string): string {
  return subset === "" ? `${destination}:${port}` : `${destination}:${port}/${subset}`;
}

interface DestinationModel {
  invalid: string[];
  warnings: string[];
  clusters: ModelCluster[];
  ports: number[];
  subsets: Set<string>;
}

/** Destination models by resource object, valid while the secrets they name are the same. */
const destinationModels = new WeakMap<ResourceOf<"Destination">, { secrets: string; model: DestinationModel }>();

function normalizeDestinations(
  index: Index,
  secrets: Map<string, ModelSecret>,
  statuses: StatusCollector,
): ResolvedDestinations {
  const result: ResolvedDestinations = { byName: new Map(), clusters: new Map() };
  for (const [name, destination] of index.of("Destination")) {
    const key = resourceKey(destination);
    const tls = destination.spec.tls;
    const secretsSeen = [tls?.ca, tls?.clientCertificate]
      .map((ref) => (ref ? secrets.get(refName(ref, destination.metadata.namespace))?.type : "-"))
      .join(",");
    let cached = destinationModels.get(destination);
    if (cached?.secrets !== secretsSeen) {
      cached = { secrets: secretsSeen, model: destinationModel(name, destination, secrets) };
      destinationModels.set(destination, cached);
    }
    const model = cached.model;
    for (const problem of model.invalid) statuses.invalid(key, problem);
    for (const problem of model.warnings) statuses.warn(key, problem);
    if (model.invalid.length > 0) continue;
    for (const cluster of model.clusters) result.clusters.set(cluster.name, cluster);
    result.byName.set(name, { resource: destination, ports: model.ports, subsets: model.subsets });
  }
  return result;
}

function destinationModel(
  name: string,
  destination: ResourceOf<"Destination">,
  secrets: Map<string, ModelSecret>,
): DestinationModel {
  const spec = destination.spec;
  const { invalid, warnings } = destinationProblems(spec, destination.metadata.namespace, secrets);
  const model: DestinationModel = {
    invalid,
    warnings,
    clusters: [],
    ports: spec.ports.map((p) => p.number),
    subsets: new Set(spec.subsets.map((s) => s.name)),
  };
  if (invalid.length > 0) return model;
  const tls = spec.tls
    ? {
        sni: spec.tls.sni,
        ...(spec.tls.ca ? { caSecret: refName(spec.tls.ca, destination.metadata.namespace) } : {}),
        ...(spec.tls.clientCertificate
          ? { clientSecret: refName(spec.tls.clientCertificate, destination.metadata.namespace) }
          : {}),
      }
    : undefined;
  const connectTimeoutMs = durationMs(spec.connectTimeout) ?? defaultConnectTimeoutMs;
  const subsets = [{ name: "", labels: {} as Record<string, string> }, ...spec.subsets];
  for (const port of spec.ports) {
    const targetPort = port.targetPort || port.number;
    for (const subset of subsets) {
      model.clusters.push({
        name: clusterName(name, port.number, subset.name),
        destination: name,
        protocol: UpstreamProtocol[port.protocol] as ModelCluster["protocol"],
        connectTimeoutMs,
        ...(tls ? { tls } : {}),
        discovery:
          spec.dns !== ""
            ? { type: "dns", host: spec.dns, port: targetPort }
            : {
                type: "static",
                endpoints: spec.endpoints
                  .filter((e) => matchesLabels(subset.labels, e.labels))
                  .map((e) => ({
                    address: e.address,
                    port: e.port || targetPort,
                    weight: e.weight || 1,
                    locality: {
                      region: e.locality?.region ?? "",
                      zone: e.locality?.zone ?? "",
                      subZone: e.locality?.subZone ?? "",
                    },
                  })),
              },
      });
    }
  }
  return model;
}

function destinationProblems(
  spec: DestinationSpec,
  namespace: string,
  secrets: Map<string, ModelSecret>,
): { invalid: string[]; warnings: string[] } {
  const invalid: string[] = [];
  const warnings: string[] = [];
  if (spec.ports.length === 0) invalid.push("spec.ports: at least one port is required");
  const seenPorts = new Set<number>();
  spec.ports.forEach((port, i) => {
    if (port.number < 1 || port.number > 65535) invalid.push(`spec.ports[${i}].number: must be 1..65535`);
    if (port.targetPort > 65535) invalid.push(`spec.ports[${i}].targetPort: must be 1..65535`);
    if (seenPorts.has(port.number)) invalid.push(`spec.ports[${i}].number: port ${port.number} is listed twice`);
    seenPorts.add(port.number);
  });
  if (spec.dns !== "" && spec.endpoints.length > 0) invalid.push("spec: set endpoints or dns, not both");
  if (spec.dns === "" && spec.endpoints.length === 0)
    warnings.push("spec: no endpoints and no dns; requests will fail");
  if (spec.dns !== "" && spec.subsets.length > 0) invalid.push("spec.subsets: subsets need static endpoints");
  spec.endpoints.forEach((endpoint, i) => {
    if (isIP(endpoint.address) === 0)
      invalid.push(`spec.endpoints[${i}].address: "${endpoint.address}" is not an IP address`);
    if (endpoint.port > 65535) invalid.push(`spec.endpoints[${i}].port: must be 1..65535`);
  });
  const subsetNames = new Set<string>();
  spec.subsets.forEach((subset, i) => {
    if (subset.name === "") invalid.push(`spec.subsets[${i}].name: required`);
    if (subsetNames.has(subset.name)) invalid.push(`spec.subsets[${i}].name: "${subset.name}" is listed twice`);
    subsetNames.add(subset.name);
    if (!spec.endpoints.some((e) => matchesLabels(subset.labels, e.labels))) {
      warnings.push(`spec.subsets[${i}]: "${subset.name}" selects no endpoints`);
    }
  });
  const checkSecret = (field: string, ref: { name: string; namespace: string } | undefined, type: "tls" | "ca") => {
    if (!ref) return;
    const secret = secrets.get(refName(ref, namespace));
    if (!secret) invalid.push(`${field}: Secret ${refName(ref, namespace)} not found or invalid`);
    else if (secret.type !== type) invalid.push(`${field}: Secret ${refName(ref, namespace)} is not a ${type} secret`);
  };
  checkSecret("spec.tls.ca", spec.tls?.ca, "ca");
  checkSecret("spec.tls.clientCertificate", spec.tls?.clientCertificate, "tls");
  return { invalid, warnings };
}

interface Policies {
  all: AttachablePolicy[];
  used: Set<string>;
  rateLimits: Model["rateLimits"];
  authConfigIds: string[];
}

function normalizePolicies(index: Index, statuses: StatusCollector): Policies {
  const all: AttachablePolicy[] = [];
  const result: Policies = { all, used: new Set(), rateLimits: [], authConfigIds: [] };
  const base = (resource: Resource & { spec: { applyToRoutes: RouteTarget[] } }) => {
    const key = resourceKey(resource);
    if (resource.spec.applyToRoutes.length === 0)
      statuses.warn(key, "spec.applyToRoutes: empty; the policy applies nowhere");
    return { key, kind: resource.kind, namespace: resource.metadata.namespace, targets: resource.spec.applyToRoutes };
  };
  for (const [, policy] of index.of("ExtAuthPolicy")) {
    const config = policy.spec.config;
    const key = resourceKey(policy);
    let extAuth: ModelRoutePolicies["extAuth"];
    if (config.case === "disable" && config.value) extAuth = { disabled: true };
    else if (config.case === "authConfig" && config.value.name !== "") {
      const configId = refName(config.value, policy.metadata.namespace);
      if (!index.of("AuthConfig").has(configId)) {
        statuses.warn(key, `spec.authConfig: AuthConfig ${configId} not found; the ext-auth server will not know it`);
      }
      result.authConfigIds.push(configId);
      extAuth = { configId };
    } else {
      statuses.invalid(key, "spec: one of authConfig or disable: true is required");
      continue;
    }
    const value = extAuth;
    all.push({
      ...base(policy),
      apply: (route) => {
        route.extAuth = value;
      },
      conflictsWith: (route) => route.extAuth !== undefined,
      conflictState: State.FAILED,
    });
  }
  for (const [, policy] of index.of("RateLimitPolicy")) {
    const key = resourceKey(policy);
    const domain = policy.spec.domain || "gantry";
    if (policy.spec.rateLimits.length === 0) statuses.warn(key, "spec.rateLimits: empty; no descriptors are sent");
    const bad = policy.spec.rateLimits.findIndex((r) => r.actions.length === 0);
    if (bad >= 0) {
      statuses.invalid(key, `spec.rateLimits[${bad}].actions: at least one action is required`);
      continue;
    }
    result.rateLimits.push({ policy: nsName(policy), domain, descriptors: policy.spec.descriptors });
    const rateLimits = policy.spec.rateLimits;
    all.push({
      ...base(policy),
      apply: (route) => {
        route.rateLimit = { domain, rateLimits };
      },
      conflictsWith: (route) => route.rateLimit !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, policy] of index.of("RetryTimeoutPolicy")) {
    const key = resourceKey(policy);
    const retry = policy.spec.retry;
    const timeoutMs = durationMs(policy.spec.timeout);
    if (retry && retry.retryOn.length === 0) {
      statuses.invalid(key, "spec.retry.retryOn: at least one condition is required");
      continue;
    }
    const perTryTimeoutMs = durationMs(retry?.perTryTimeout);
    all.push({
      ...base(policy),
      apply: (route) => {
        if (retry) {
          route.retry = {
            retryOn: [...retry.retryOn],
            attempts: retry.attempts || 1,
            retriableStatusCodes: [...retry.retriableStatusCodes],
            ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}),
          };
        }
        if (timeoutMs !== undefined) route.timeoutMs = timeoutMs;
      },
      conflictsWith: (route) => route.retry !== undefined || route.timeoutMs !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, policy] of index.of("FaultInjectionPolicy")) {
    const key = resourceKey(policy);
    const { abort, delay } = policy.spec;
    const problems: string[] = [];
    if (!abort && !delay) problems.push("spec: abort or delay is required");
    if (abort) {
      if (abort.status.case === undefined) problems.push("spec.abort: httpStatus or grpcStatus is required");
      if (abort.status.case === "httpStatus" && (abort.status.value < 200 || abort.status.value > 599)) {
        problems.push("spec.abort.httpStatus: must be 200..599");
      }
      if (abort.status.case === "grpcStatus" && abort.status.value > 16)
        problems.push("spec.abort.grpcStatus: must be 0..16");
      if (abort.percentage < 0 || abort.percentage > 100) problems.push("spec.abort.percentage: must be 0..100");
    }
    if (delay) {
      if (!delay.fixedDelay) problems.push("spec.delay.fixedDelay: required");
      if (delay.percentage < 0 || delay.percentage > 100) problems.push("spec.delay.percentage: must be 0..100");
    }
    if (problems.length > 0) {
      for (const p of problems) statuses.invalid(key, p);
      continue;
    }
    const fault: ModelRoutePolicies["fault"] = {
      ...(abort
        ? {
            abort: {
              percentage: abort.percentage,
              ...(abort.status.case === "httpStatus" ? { httpStatus: abort.status.value } : {}),
              ...(abort.status.case === "grpcStatus" ? { grpcStatus: abort.status.value } : {}),
            },
          }
        : {}),
      ...(delay ? { delay: { fixedDelayMs: durationMs(delay.fixedDelay) ?? 0, percentage: delay.percentage } } : {}),
    };
    all.push({
      ...base(policy),
      apply: (route) => {
        route.fault = fault;
      },
      conflictsWith: (route) => route.fault !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, policy] of index.of("CORSPolicy")) {
    const key = resourceKey(policy);
    const spec = policy.spec;
    const badRegex = spec.allowOriginRegexes.map((r, i) => [i, validRegex(r)] as const).find(([, e]) => e);
    if (badRegex) {
      statuses.invalid(key, `spec.allowOriginRegexes[${badRegex[0]}]: invalid regex: ${badRegex[1]}`);
      continue;
    }
    if (spec.allowOrigins.length === 0 && spec.allowOriginRegexes.length === 0) {
      statuses.warn(key, "spec: no allowOrigins; no cross-origin request is allowed");
    }
    const maxAgeMs = durationMs(spec.maxAge);
    const cors: ModelRoutePolicies["cors"] = {
      allowOrigins: [...spec.allowOrigins],
      allowOriginRegexes: [...spec.allowOriginRegexes],
      allowMethods: [...spec.allowMethods],
      allowHeaders: [...spec.allowHeaders],
      exposeHeaders: [...spec.exposeHeaders],
      allowCredentials: spec.allowCredentials,
      ...(maxAgeMs !== undefined ? { maxAgeSeconds: Math.floor(maxAgeMs / 1000) } : {}),
    };
    all.push({
      ...base(policy),
      apply: (route) => {
        route.cors = cors;
      },
      conflictsWith: (route) => route.cors !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, policy] of index.of("HeaderPolicy")) {
    const key = resourceKey(policy);
    const spec = policy.spec;
    const names = [
      ...spec.requestHeadersToAdd.map((h, i) => [`spec.requestHeadersToAdd[${i}].name`, h.name] as const),
      ...spec.responseHeadersToAdd.map((h, i) => [`spec.responseHeadersToAdd[${i}].name`, h.name] as const),
      ...spec.requestHeadersToRemove.map((h, i) => [`spec.requestHeadersToRemove[${i}]`, h] as const),
      ...spec.responseHeadersToRemove.map((h, i) => [`spec.responseHeadersToRemove[${i}]`, h] as const),
    ];
    const bad = names.filter(([, name]) => !headerName.test(name));
    if (bad.length > 0) {
      for (const [field, name] of bad)
        statuses.invalid(key, `${field}: "${name}" is not a valid lowercase header name`);
      continue;
    }
    const copy = (h: { name: string; value: string; append: boolean }) => ({
      name: h.name,
      value: h.value,
      append: h.append,
    });
    all.push({
      ...base(policy),
      // Header policies add up: each one's headers are appended in policy order.
      apply: (route) => {
        const headers = route.headers ?? { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] };
        headers.requestAdd.push(...spec.requestHeadersToAdd.map(copy));
        headers.requestRemove.push(...spec.requestHeadersToRemove);
        headers.responseAdd.push(...spec.responseHeadersToAdd.map(copy));
        headers.responseRemove.push(...spec.responseHeadersToRemove);
        route.headers = headers;
      },
      conflictsWith: () => false,
      conflictState: State.WARNING,
    });
  }
  all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return result;
}

interface FlatRoute {
  route: ModelRoute;
  /** The route table that defines the route (for status). */
  owner: string;
  /** The route's labels merged over its delegating parents'; policies select by these. */
  labels: Record<string, string>;
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;

/** A number per resource object: equal for the same object, so unchanged inputs are recognised. */
function objectId(resource: object | undefined): number {
  if (resource === undefined) return 0;
  let id = objectIds.get(resource);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(resource, id);
  }
  return id;
}

/**
 * What every route table's flattening may read besides the route tables and destinations it
 * names: policies, auth configs and secrets (by object), and which route tables exist with which
 * labels (delegation selects by label).
 */
function flattenContext(index: Index): string {
  const parts: string[] = [];
  for (const kind of [
    "ExtAuthPolicy",
    "RateLimitPolicy",
    "RetryTimeoutPolicy",
    "FaultInjectionPolicy",
    "CORSPolicy",
    "HeaderPolicy",
    "AuthConfig",
    "Secret",
  ] as const) {
    for (const [name, resource] of index.of(kind)) parts.push(`${kind}/${name}=${objectId(resource)}`);
  }
  for (const [name, rt] of index.of("RouteTable")) {
    parts.push(`RouteTable/${name}:${JSON.stringify(rt.metadata.labels)}:${rt.spec.gateways.length > 0}`);
  }
  return parts.join("\n");
}

interface MemoEntry {
  routes: FlatRoute[];
  /** The route tables and destinations read, with the object each was. */
  deps: { kind: "RouteTable" | "Destination"; name: string; id: number }[];
  /** Status reports and policy uses made while flattening, replayed on reuse. */
  reports: { key: string; state: State; message: string }[];
  used: string[];
}

/**
 * Flattened, policy-attached routes of each root route table, kept between translations: a
 * route table whose inputs are the same objects as last time is not flattened again.
 */
export class RouteMemo {
  #context = "";
  #entries = new Map<string, MemoEntry>();

  /** Starts a translation: entries made under another context are dropped. */
  reuse(context: string): RouteMemo {
    if (context !== this.#context) {
      this.#context = context;
      this.#entries = new Map();
    }
    return this;
  }

  get(name: string): MemoEntry | undefined {
    return this.#entries.get(name);
  }

  set(name: string, entry: MemoEntry): void {
    this.#entries.set(name, entry);
  }

  /** Drops the entries of route tables that no longer exist. */
  keepOnly(names: Set<string>): void {
    for (const name of this.#entries.keys()) if (!names.has(name)) this.#entries.delete(name);
  }
}

/** What a delegated child inherits from the routes that delegate to it. */
interface Inherited {
  labels: Record<string, string>;
  matches: ModelMatch[];
  /** `routeTable/route` of each delegating route, outermost first. */
  names: string[];
}

function everything(): ModelMatch {
  return { path: { kind: "prefix", value: "/" }, headers: [], queryParams: [], methods: [], ignoreCase: false };
}

/** Flattens route tables (following delegation) into model routes, memoized per route table. */
class RouteFlattener {
  readonly #attached = new Set<string>();
  readonly #done = new Map<string, FlatRoute[]>();
  #recording: MemoEntry | undefined;

  constructor(
    private readonly index: Index,
    private readonly destinations: ResolvedDestinations,
    private readonly policies: Policies,
    private readonly statuses: StatusCollector,
    private readonly memo: RouteMemo,
  ) {}

  #warn(key: string, message: string, state: State = State.WARNING): void {
    this.statuses.report(key, state, message);
    this.#recording?.reports.push({ key, state, message });
  }

  #routeTable(name: string): ResourceOf<"RouteTable"> | undefined {
    const rt = this.index.of("RouteTable").get(name);
    this.#recording?.deps.push({ kind: "RouteTable", name, id: objectId(rt) });
    return rt;
  }

  #destination(name: string) {
    const destination = this.destinations.byName.get(name);
    this.#recording?.deps.push({ kind: "Destination", name, id: objectId(this.index.of("Destination").get(name)) });
    return destination;
  }

  #unchanged(entry: MemoEntry): boolean {
    return entry.deps.every((d) => objectId(this.index.of(d.kind).get(d.name)) === d.id);
  }

  /** The routes of a root route table, policies attached. */
  routesOf(rt: ResourceOf<"RouteTable">): ModelRoute[] {
    const name = nsName(rt);
    this.#attached.add(name);
    const done = this.#done.get(name);
    if (done) return done.map((f) => f.route);
    const kept = this.memo.get(name);
    if (kept && this.#unchanged(kept)) {
      for (const r of kept.reports) this.statuses.report(r.key, r.state, r.message);
      for (const key of kept.used) this.policies.used.add(key);
      this.#done.set(name, kept.routes);
      return kept.routes.map((f) => f.route);
    }
    const entry: MemoEntry = { routes: [], deps: [], reports: [], used: [] };
    this.#recording = entry;
    this.#routeTable(name);
    entry.routes = this.#flatten(rt, [], { labels: {}, matches: [everything()], names: [] });
    for (const route of entry.routes) this.#attachPolicies(route, rt);
    this.#recording = undefined;
    this.memo.set(name, entry);
    this.#done.set(name, entry.routes);
    return entry.routes.map((f) => f.route);
  }

  reportUnused(): void {
    this.memo.keepOnly(new Set(this.#done.keys()));
    for (const [name, rt] of this.index.of("RouteTable")) {
      if (!this.#attached.has(name) && rt.spec.gateways.length > 0) {
        this.statuses.warn(resourceKey(rt), "not attached to any gateway listener");
      }
    }
  }

  #flatten(rt: ResourceOf<"RouteTable">, stack: string[], parent: Inherited): FlatRoute[] {
    const rtName = nsName(rt);
    const rtKey = resourceKey(rt);
    const out: FlatRoute[] = [];
    const seen = new Set<string>();
    rt.spec.http.forEach((http, i) => {
      const routeName = http.name || `route-${i}`;
      const field = `spec.http[${i}]`;
      if (seen.has(routeName)) this.#warn(rtKey, `${field}.name: "${routeName}" is used twice in this route table`);
      seen.add(routeName);
      const fail = (message: string) => this.#warn(rtKey, `${field} (${routeName}): ${message}`);
      const own = this.#matches(http, fail);
      if (!own) return;
      const matches = combineMatches(parent.matches, own);
      if (typeof matches === "string") {
        fail(matches);
        return;
      }
      const labels = { ...parent.labels, ...http.labels };
      const name = [...parent.names, `${rtName}/${routeName}`].join(" > ");
      const action = http.action;
      if (action.case === "delegate") {
        out.push(
          ...this.#delegate(
            rt,
            http,
            [...stack, rtName],
            { labels, matches, names: [...parent.names, `${rtName}/${routeName}`] },
            fail,
          ),
        );
        return;
      }
      const resolved = this.#action(http, rt.metadata.namespace, field);
      if (typeof resolved === "string") fail(`${resolved}; the route answers 500`);
      const modelAction: ModelAction =
        typeof resolved === "string"
          ? { type: "direct", status: 500, body: `route ${name} is invalid\n` }
          : resolved.action;
      const origins = typeof resolved === "string" ? [rtKey] : [rtKey, ...resolved.origins];
      matches.forEach((match, m) => {
        out.push({
          owner: rtKey,
          labels,
          route: {
            name: matches.length === 1 ? name : `${name}#${m}`,
            match,
            action: modelAction,
            policies: {},
            origins: [...origins],
          },
        });
      });
    });
    return out;
  }

  #matches(http: HttpRoute, fail: (message: string) => void): ModelMatch[] | undefined {
    const matchers: RequestMatcher[] = http.matchers;
    if (matchers.length === 0) return [everything()];
    const out: ModelMatch[] = [];
    let ok = true;
    matchers.forEach((m, j) => {
      const at = `matchers[${j}]`;
      const path =
        m.path.case === undefined
          ? { kind: "prefix" as const, value: "/" }
          : { kind: m.path.case, value: m.path.value };
      if (path.kind !== "regex" && !path.value.startsWith("/")) {
        fail(`${at}.${path.kind}: must start with "/"`);
        ok = false;
      }
      if (path.kind === "regex") {
        const problem = validRegex(path.value);
        if (problem) {
          fail(`${at}.regex: invalid regex: ${problem}`);
          ok = false;
        }
      }
      m.headers.forEach((h, k) => {
        if (!headerName.test(h.name)) {
          fail(`${at}.headers[${k}].name: "${h.name}" is not a valid lowercase header name`);
          ok = false;
        }
        const problem = h.regex ? validRegex(h.value) : undefined;
        if (problem) {
          fail(`${at}.headers[${k}].value: invalid regex: ${problem}`);
          ok = false;
        }
      });
      m.queryParams.forEach((q, k) => {
        if (q.name === "") {
          fail(`${at}.queryParams[${k}].name: required`);
          ok = false;
        }
      });
      out.push({
        path,
        headers: m.headers.map((h) => ({ name: h.name, value: h.value, regex: h.regex, invert: h.invertMatch })),
        queryParams: m.queryParams.map((q) => ({ name: q.name, value: q.value, regex: q.regex })),
        methods: m.methods.map((x) => x.toUpperCase()),
        ignoreCase: m.ignoreCase,
      });
    });
    if (!ok) {
      fail("the route is skipped");
      return undefined;
    }
    return out;
  }

  #action(http: HttpRoute, namespace: string, field: string): { action: ModelAction; origins: string[] } | string {
    const action = http.action;
    switch (action.case) {
      case "forwardTo": {
        const forward = action.value;
        if (forward.destinations.length === 0) return `${field}.forwardTo.destinations: at least one is required`;
        const destinations: { cluster: string; weight: number }[] = [];
        const origins: string[] = [];
        for (const [d, target] of forward.destinations.entries()) {
          const at = `${field}.forwardTo.destinations[${d}]`;
          if (!target.destination) return `${at}.destination: required`;
          const name = refName(target.destination, namespace);
          origins.push(`Destination/${name}`);
          const destination = this.#destination(name);
          if (!destination) return `${at}.destination: Destination ${name} not found or invalid`;
          let port = target.port;
          if (port === 0) {
            if (destination.ports.length !== 1) return `${at}.port: required, ${name} has several ports`;
            port = destination.ports[0] ?? 0;
          } else if (!destination.ports.includes(port)) {
            return `${at}.port: ${name} has no port ${port} (it has ${destination.ports.join(", ")})`;
          }
          if (target.subset !== "" && !destination.subsets.has(target.subset)) {
            return `${at}.subset: ${name} has no subset "${target.subset}"`;
          }
          destinations.push({ cluster: clusterName(name, port, target.subset), weight: target.weight || 1 });
        }
        const timeoutMs = durationMs(forward.timeout);
        return {
          action: {
            type: "forward",
            destinations,
            ...(forward.pathRewrite !== "" ? { pathRewrite: forward.pathRewrite } : {}),
            ...(forward.hostRewrite !== "" ? { hostRewrite: forward.hostRewrite } : {}),
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          },
          origins,
        };
      }
      case "redirect": {
        const r = action.value;
        const responseCode = r.responseCode || 301;
        if (![301, 302, 303, 307, 308].includes(responseCode)) {
          return `${field}.redirect.responseCode: must be 301, 302, 303, 307 or 308`;
        }
        if (r.path !== "" && !r.path.startsWith("/")) return `${field}.redirect.path: must start with "/"`;
        return { action: { type: "redirect", host: r.host, path: r.path, https: r.https, responseCode }, origins: [] };
      }
      case "directResponse": {
        const d = action.value;
        if (d.status < 200 || d.status > 599) return `${field}.directResponse.status: must be 200..599`;
        return { action: { type: "direct", status: d.status, body: d.body }, origins: [] };
      }
      default:
        return `${field}: one of forwardTo, delegate, redirect or directResponse is required`;
    }
  }

  #delegate(
    parent: ResourceOf<"RouteTable">,
    http: HttpRoute,
    stack: string[],
    inherited: Inherited,
    fail: (message: string) => void,
  ): FlatRoute[] {
    if (http.action.case !== "delegate") return [];
    const selectors = http.action.value.routeTables;
    if (selectors.length === 0) {
      fail("delegate.routeTables: at least one selector is required");
      return [];
    }
    const children = new Map<string, ResourceOf<"RouteTable">>();
    selectors.forEach((selector, s) => {
      const at = `delegate.routeTables[${s}]`;
      const hasLabels = Object.keys(selector.labels).length > 0;
      if (selector.ref && hasLabels) {
        fail(`${at}: set ref or labels, not both`);
        return;
      }
      if (selector.ref) {
        const name = refName(selector.ref, parent.metadata.namespace);
        const child = this.#routeTable(name);
        if (!child) fail(`${at}.ref: RouteTable ${name} not found`);
        else children.set(name, child);
        return;
      }
      const namespace = selector.namespace || parent.metadata.namespace;
      for (const [name, rt] of this.index.of("RouteTable")) {
        if (rt.metadata.namespace === namespace && matchesLabels(selector.labels, rt.metadata.labels)) {
          this.#routeTable(name);
          children.set(name, rt);
        }
      }
    });
    const ordered = [...children.values()].sort(
      (a, b) => b.spec.weight - a.spec.weight || (nsName(a) < nsName(b) ? -1 : nsName(a) > nsName(b) ? 1 : 0),
    );
    if (ordered.length === 0) fail("delegate: selects no route tables");
    const out: FlatRoute[] = [];
    for (const child of ordered) {
      const childName = nsName(child);
      if (childName === nsName(parent) || stack.includes(childName)) {
        const cycle = [...stack.slice(stack.indexOf(childName)), childName].join(" → ");
        fail(`delegation cycle: ${cycle || `${childName} → ${childName}`}; RouteTable ${childName} is skipped here`);
        this.#warn(resourceKey(child), `part of a delegation cycle: ${cycle}`);
        continue;
      }
      if (child.spec.gateways.length > 0) {
        fail(`RouteTable ${childName} names gateways; a delegation child may not, so it is skipped`);
        this.#warn(resourceKey(child), `delegated to by ${nsName(parent)} but names gateways; not used as a child`);
        continue;
      }
      out.push(...this.#flatten(child, stack, inherited));
    }
    return out;
  }

  #attachPolicies({ route, labels }: FlatRoute, root: ResourceOf<"RouteTable">): void {
    for (const policy of this.policies.all) {
      const applies = policy.targets.some(
        (t) =>
          t.route !== undefined &&
          (t.route.namespace === ""
            ? policy.namespace === root.metadata.namespace
            : t.route.namespace === root.metadata.namespace) &&
          matchesLabels(t.route.labels, labels),
      );
      if (!applies) continue;
      this.policies.used.add(policy.key);
      this.#recording?.used.push(policy.key);
      if (policy.conflictsWith(route.policies)) {
        this.#warn(
          policy.key,
          `route ${route.name} already has a ${policy.kind} applied; this one is not applied there`,
          policy.conflictState,
        );
        continue;
      }
      policy.apply(route.policies);
      route.origins.push(policy.key);
    }
  }
}

/**
 * A delegated child's matchers narrowed by its parent's: the child path must lie under the
 * parent prefix, and header, query and method conditions add up.
 */
function combineMatches(parents: ModelMatch[], children: ModelMatch[]): ModelMatch[] | string {
  const out: ModelMatch[] = [];
  for (const parent of parents) {
    if (parent.path.kind !== "prefix") return `a delegating route must match by prefix, not ${parent.path.kind}`;
    for (const child of children) {
      if (
        parent.path.value !== "/" &&
        (child.path.kind === "regex" || !child.path.value.startsWith(parent.path.value))
      ) {
        return `path ${child.path.kind} "${child.path.value}" is not under the parent's prefix "${parent.path.value}"`;
      }
      out.push({
        path: child.path,
        headers: [...parent.headers, ...child.headers],
        queryParams: [...parent.queryParams, ...child.queryParams],
        methods: child.methods.length > 0 ? child.methods : parent.methods,
        ignoreCase: child.ignoreCase || parent.ignoreCase,
      });
    }
  }
  return out;
}

function normalizeGateways(
  index: Index,
  secrets: Map<string, ModelSecret>,
  routes: RouteFlattener,
  statuses: StatusCollector,
): ModelGateway[] {
  const gateways: ModelGateway[] = [];
  const routeTables = [...index.of("RouteTable").values()];
  const byGateway = new Map<string, ResourceOf<"RouteTable">[]>();
  for (const rt of routeTables) {
    for (const name of new Set(rt.spec.gateways.map((g) => refName(g, rt.metadata.namespace)))) {
      byGateway.set(name, [...(byGateway.get(name) ?? []), rt]);
    }
  }
  for (const [name, gateway] of index.of("Gateway")) {
    const key = resourceKey(gateway);
    const spec = gateway.spec;
    const proxies = { labels: { ...(spec.proxies?.labels ?? {}) }, nodeIds: [...(spec.proxies?.nodeIds ?? [])].sort() };
    if (Object.keys(proxies.labels).length === 0 && proxies.nodeIds.length === 0) {
      statuses.invalid(key, "spec.proxies: labels or nodeIds are required");
      continue;
    }
    const namingThis = byGateway.get(name) ?? [];
    const origins = new Set<string>([key]);
    const listeners: ModelListener[] = [];
    if (spec.kind === ProxyKind.GRPC_PROXYLESS) {
      if (spec.listeners.length > 0) statuses.warn(key, "spec.listeners: ignored for GRPC_PROXYLESS gateways");
      const admitted = namingThis.filter((rt) => admits(spec.allowedRouteTables, rt));
      const virtualHosts = buildVirtualHosts(admitted, `${key} (grpc)`, routes, statuses, origins).map((vhost) => ({
        ...vhost,
        routes: vhost.routes.filter((route) => {
          if (route.action.type === "forward") return true;
          statuses.warn(
            `RouteTable/${vhost.name}`,
            `route ${route.name}: gRPC clients only forward (no redirect or direct response); left out for Gateway ${name}`,
          );
          return false;
        }),
      }));
      listeners.push({ name: "grpc", port: 0, bindAddress: "", httpsRedirect: false, virtualHosts });
    } else {
      if (spec.listeners.length === 0) statuses.warn(key, "spec.listeners: empty; the gateway serves nothing");
      const ports = new Set<number>();
      let ok = true;
      spec.listeners.forEach((listener, i) => {
        const problems = listenerProblems(listener, `spec.listeners[${i}]`, gateway.metadata.namespace, secrets, ports);
        for (const p of problems) statuses.invalid(key, p);
        if (problems.length > 0) {
          ok = false;
          return;
        }
        ports.add(listener.port);
        const admitted = namingThis.filter((rt) => admits(listener.allowedRouteTables, rt));
        const listenerName = listener.name || `${listener.port}`;
        const virtualHosts = buildVirtualHosts(admitted, `${key} listener ${listenerName}`, routes, statuses, origins);
        const tls = listener.tls;
        const namespace = gateway.metadata.namespace;
        listeners.push({
          name: listenerName,
          port: listener.port,
          bindAddress: listener.bindAddress || "0.0.0.0",
          httpsRedirect: listener.httpsRedirect,
          virtualHosts,
          ...(listener.protocol === Protocol.HTTPS && tls?.secret
            ? {
                tls: {
                  secret: refName(tls.secret, namespace),
                  mode: tls.mode === TlsMode.MUTUAL ? ("MUTUAL" as const) : ("SIMPLE" as const),
                  ...(tls.clientCa ? { clientCa: refName(tls.clientCa, namespace) } : {}),
                },
              }
            : {}),
        });
        if (listener.protocol === Protocol.HTTPS && tls?.secret)
          origins.add(`Secret/${refName(tls.secret, namespace)}`);
      });
      if (!ok) continue;
    }
    for (const rt of namingThis) {
      if (!listeners.some((l) => l.virtualHosts.some((v) => v.name === nsName(rt)))) {
        statuses.warn(resourceKey(rt), `not admitted by any listener of Gateway ${name}`);
      }
    }
    gateways.push({
      name,
      proxies,
      kind: spec.kind === ProxyKind.GRPC_PROXYLESS ? "grpc" : "envoy",
      listeners,
      origins,
    });
  }
  for (const rt of routeTables) {
    for (const [g, ref] of rt.spec.gateways.entries()) {
      const name = refName(ref, rt.metadata.namespace);
      if (!index.of("Gateway").has(name))
        statuses.warn(resourceKey(rt), `spec.gateways[${g}]: Gateway ${name} not found`);
    }
  }
  return gateways;
}

function admits(selectors: RouteTableSelector[], rt: ResourceOf<"RouteTable">): boolean {
  if (selectors.length === 0) return true;
  return selectors.some(
    (s) =>
      (s.host === "" || rt.spec.hosts.includes(s.host)) &&
      matchesSelector({ labels: s.labels, namespace: s.namespace }, rt.metadata),
  );
}

function listenerProblems(
  listener: GatewayListener,
  field: string,
  namespace: string,
  secrets: Map<string, ModelSecret>,
  ports: Set<number>,
): string[] {
  const problems: string[] = [];
  if (listener.port < 1 || listener.port > 65535) problems.push(`${field}.port: must be 1..65535`);
  if (ports.has(listener.port)) problems.push(`${field}.port: ${listener.port} is used by another listener`);
  if (listener.bindAddress !== "" && isIP(listener.bindAddress) === 0) {
    problems.push(`${field}.bindAddress: "${listener.bindAddress}" is not an IP address`);
  }
  const tls = listener.tls;
  if (listener.protocol === Protocol.HTTPS) {
    if (!tls?.secret) problems.push(`${field}.tls.secret: required for HTTPS`);
    else {
      const secret = secrets.get(refName(tls.secret, namespace));
      if (!secret) problems.push(`${field}.tls.secret: Secret ${refName(tls.secret, namespace)} not found or invalid`);
      else if (secret.type !== "tls") problems.push(`${field}.tls.secret: Secret ${secret.name} is not a tls secret`);
    }
    if (tls?.mode === TlsMode.MUTUAL) {
      const ca = tls.clientCa ? secrets.get(refName(tls.clientCa, namespace)) : undefined;
      if (!tls.clientCa) problems.push(`${field}.tls.clientCa: required for MUTUAL`);
      else if (!ca)
        problems.push(`${field}.tls.clientCa: Secret ${refName(tls.clientCa, namespace)} not found or invalid`);
      else if (ca.type !== "ca") problems.push(`${field}.tls.clientCa: Secret ${ca.name} is not a ca secret`);
    }
    if (listener.httpsRedirect) problems.push(`${field}.httpsRedirect: only for HTTP listeners`);
  } else if (tls) {
    problems.push(`${field}.tls: only for HTTPS listeners`);
  }
  return problems;
}

function buildVirtualHosts(
  routeTables: ResourceOf<"RouteTable">[],
  where: string,
  routes: RouteFlattener,
  statuses: StatusCollector,
  origins: Set<string>,
): ModelVirtualHost[] {
  const claimed = new Map<string, string>();
  const out: ModelVirtualHost[] = [];
  for (const rt of routeTables) {
    const key = resourceKey(rt);
    if (rt.spec.hosts.length === 0) {
      statuses.invalid(key, "spec.hosts: required on a route table that names gateways");
      continue;
    }
    const domains: string[] = [];
    for (const host of rt.spec.hosts) {
      const owner = claimed.get(host);
      if (owner !== undefined) {
        statuses.warn(key, `spec.hosts: "${host}" is already served by RouteTable ${owner} on ${where}; not here`);
        continue;
      }
      claimed.set(host, nsName(rt));
      domains.push(host);
    }
    if (domains.length === 0) continue;
    const modelRoutes = sortBySpecificity(routes.routesOf(rt));
    for (const route of modelRoutes) for (const origin of route.origins) origins.add(origin);
    origins.add(key);
    out.push({ name: nsName(rt), domains, routes: modelRoutes });
  }
  return out;
}

const pathRank = { exact: 0, regex: 1, prefix: 2 } as const;

/**
 * Envoy takes the first matching route, so more specific routes go first: exact paths, then
 * regexes, then prefixes, longer first; then routes with more header, query and method
 * conditions. Ties keep the order the user wrote (the sort is stable).
 */
export function sortBySpecificity(routes: ModelRoute[]): ModelRoute[] {
  const conditions = (m: ModelMatch) => m.headers.length + m.queryParams.length + (m.methods.length > 0 ? 1 : 0);
  return [...routes].sort((a, b) => {
    const pa = a.match.path;
    const pb = b.match.path;
    return (
      pathRank[pa.kind] - pathRank[pb.kind] ||
      pb.value.length - pa.value.length ||
      conditions(b.match) - conditions(a.match)
    );
  });
}
