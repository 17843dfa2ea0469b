// Route tables flattened into model routes: delegation, matches, actions, policy attachment,
// specificity order, and the memo that keeps unchanged route tables between translations.
// Over 400 lines on purpose: these steps walk one delegation tree together and share its private
// helpers; split, each would have to export them.
import type { HttpRoute, RequestMatcher, WeightedDestination } from "../../gen/gantry/v1/route_table_pb.js";
import { kindKey, type Metadata, matchesLabels, type ResourceOf, refName, resourceKey } from "../../resources/index.js";
import { routeTablesOf } from "../attachments.js";
import { durationMs } from "../durations.js";
import type { ModelAction, ModelMatch, ModelRoute, ModelRoutePolicies } from "../model.js";
import { State, type StatusCollector } from "../status.js";
import type { AccessByDestination } from "./access.js";
import { headerName, type Index, nsName, validRegex } from "./common.js";
import { clusterName, type ResolvedDestinations } from "./destinations.js";
import type { AttachablePolicy, Policies } from "./policies.js";
import { type ResolvedVirtualDestinations, virtualClusterName } from "./virtual-destinations.js";

/** `Destination/`: what the key of every Destination starts with, before its `namespace/name`. */
const destinationKeyPrefix = kindKey("Destination", "");
const virtualKeyPrefix = kindKey("VirtualDestination", "");

interface FlatRoute {
  route: ModelRoute;
  /** The route table that defines the route (for status). */
  owner: string;
  /** The route's labels merged over its delegating parents'; policies select by these. */
  labels: Record<string, string>;
  /** The namespace of the route table that defines the route. */
  namespace: string;
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
export function flattenContext(index: Index): string {
  const parts: string[] = [];
  for (const kind of [
    "ExtAuthPolicy",
    "RateLimitPolicy",
    "RetryTimeoutPolicy",
    "FaultInjectionPolicy",
    "CORSPolicy",
    "HeaderPolicy",
    "AccessPolicy",
    "AuthConfig",
    "Secret",
    // A VirtualDestination is valid or not by its FailoverPolicy too.
    "FailoverPolicy",
    // Products attach their plans' limits to their route tables' routes.
    "ApiProduct",
    "UsagePlan",
  ] as const) {
    for (const [name, resource] of index.of(kind)) parts.push(`${kindKey(kind, name)}=${objectId(resource)}`);
  }
  for (const [name, rt] of index.of("RouteTable")) {
    parts.push(`${kindKey("RouteTable", name)}:${JSON.stringify(rt.metadata.labels)}:${rt.spec.gateways.length > 0}`);
  }
  return parts.join("\n");
}

interface MemoEntry {
  /** In specificity order. */
  routes: ModelRoute[];
  /** Every resource the routes came from. */
  origins: string[];
  /** The route tables and destinations read (`Kind/namespace/name`), present or not. */
  deps: Set<string>;
  /** Status reports and policy uses made while flattening, replayed on reuse. */
  reports: { key: string; state: State; message: string }[];
  used: string[];
  /** The routes that cannot forward, in route table order: each gateway reports them for its clients. */
  unservable: Unservable[];
}

/** A route that cannot forward as written: the route table defining it, and why (its field first). */
export interface Unservable {
  routeTable: string;
  problem: string;
}

/**
 * Flattened, policy-attached routes of each root route table, kept between translations: a
 * route table whose inputs are the same objects as last time is not flattened again.
 */
export class RouteMemo {
  #context = "";
  #entries = new Map<string, MemoEntry>();
  /** The object each route table and destination was in the previous translation. */
  #objects = new Map<string, number>();
  /** Route tables and destinations whose object differs from the previous translation's. */
  #changed = new Set<string>();

  /**
   * Starts a translation: entries made under another context are dropped, and the route tables
   * and destinations that are new, gone or different objects are noted.
   */
  reuse(context: string, index: Index): RouteMemo {
    if (context !== this.#context) {
      this.#context = context;
      this.#entries = new Map();
    }
    const objects = new Map<string, number>();
    for (const kind of ["RouteTable", "Destination", "VirtualDestination"] as const) {
      for (const [name, resource] of index.of(kind)) objects.set(kindKey(kind, name), objectId(resource));
    }
    this.#changed = new Set();
    for (const [key, id] of objects) if (this.#objects.get(key) !== id) this.#changed.add(key);
    for (const key of this.#objects.keys()) if (!objects.has(key)) this.#changed.add(key);
    this.#objects = objects;
    return this;
  }

  /** Whether an entry still holds: none of what it read has changed. */
  holds(entry: MemoEntry): boolean {
    for (const key of this.#changed) if (entry.deps.has(key)) return false;
    return true;
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

/**
 * Whether a policy selects a route: by the route's labels (in the policy's namespace unless the
 * selector names one), or by a destination the route forwards to.
 */
function appliesTo(
  policy: AttachablePolicy,
  namespace: string,
  labels: Record<string, string>,
  destinations: Metadata[],
): boolean {
  const inNamespace = (selector: { namespace: string }, of: string) =>
    (selector.namespace === "" ? policy.namespace : selector.namespace) === of;
  return (
    policy.targets.some(
      (t) => t.route !== undefined && inNamespace(t.route, namespace) && matchesLabels(t.route.labels, labels),
    ) ||
    policy.destinationTargets.some((t) =>
      destinations.some(
        (d) =>
          t.destination !== undefined &&
          inNamespace(t.destination, d.namespace) &&
          matchesLabels(t.destination.labels, d.labels),
      ),
    )
  );
}

/**
 * The status message of a route table with a route that cannot be served: the translator then
 * serves the table's last accepted version instead, never the rest of its routes.
 */
export const routeTableRejected = "rejected whole: a route table is never applied in part";

/** The most a weighted split's weights may add up to: Envoy and gRPC clients sum them in a uint32. */
const maxWeightSum = 0xffff_ffff;

/**
 * Why a forward's weights cannot be served together, if they cannot: each fits its uint32 field, but
 * a sum above maxWeightSum makes every client NACK the whole RouteConfiguration.
 */
function weightSumProblem(http: HttpRoute): string | undefined {
  if (http.action.case !== "forwardTo") return undefined;
  // As translated: an absent or zero weight counts as 1.
  const sum = http.action.value.destinations.reduce((total, d) => total + (d.weight || 1), 0);
  if (sum <= maxWeightSum) return undefined;
  return `forwardTo.destinations: the weights add up to ${sum}, above ${maxWeightSum} (2^32-1), the most Envoy and gRPC clients accept`;
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
export class RouteFlattener {
  readonly #attached = new Set<string>();
  readonly #done = new Map<string, MemoEntry>();
  #recording: MemoEntry | undefined;

  constructor(
    private readonly index: Index,
    private readonly destinations: ResolvedDestinations,
    private readonly virtualDestinations: ResolvedVirtualDestinations,
    private readonly policies: Policies,
    private readonly access: AccessByDestination,
    private readonly statuses: StatusCollector,
    private readonly memo: RouteMemo,
  ) {}

  #warn(key: string, message: string, state: State = State.WARNING): void {
    this.statuses.report(key, state, message);
    this.#recording?.reports.push({ key, state, message });
  }

  #routeTable(name: string): ResourceOf<"RouteTable"> | undefined {
    const rt = this.index.of("RouteTable").get(name);
    this.#recording?.deps.add(kindKey("RouteTable", name));
    return rt;
  }

  #destination(name: string) {
    const destination = this.destinations.byName.get(name);
    this.#recording?.deps.add(kindKey("Destination", name));
    return destination;
  }

  #virtualDestination(name: string) {
    const virtual = this.virtualDestinations.byName.get(name);
    this.#recording?.deps.add(kindKey("VirtualDestination", name));
    return virtual;
  }

  /**
   * The routes of a root route table, policies attached, in specificity order, and the resources
   * they came from. The same array is returned while the route table's inputs are unchanged.
   */
  routesOf(rt: ResourceOf<"RouteTable">): {
    routes: readonly ModelRoute[];
    origins: readonly string[];
    unservable: readonly Unservable[];
  } {
    const name = nsName(rt);
    this.#attached.add(name);
    const done = this.#done.get(name);
    if (done) return done;
    const kept = this.memo.get(name);
    if (kept && this.memo.holds(kept)) {
      for (const r of kept.reports) this.statuses.report(r.key, r.state, r.message);
      for (const key of kept.used) this.policies.used.add(key);
      this.#done.set(name, kept);
      return kept;
    }
    const entry: MemoEntry = { routes: [], origins: [], deps: new Set(), reports: [], used: [], unservable: [] };
    this.#recording = entry;
    this.#routeTable(name);
    const flat = this.#flatten(rt, [], { labels: {}, matches: [everything()], names: [] });
    for (const route of flat) this.#attachPolicies(route);
    this.#recording = undefined;
    entry.routes = sortBySpecificity(flat.map((f) => f.route));
    entry.origins = [...new Set([resourceKey(rt), ...entry.routes.flatMap((r) => r.origins)])];
    this.memo.set(name, entry);
    this.#done.set(name, entry);
    return entry;
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
      const own = this.#matches(http, fail, rtKey);
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
      const overflow = weightSumProblem(http);
      if (overflow) {
        fail(overflow);
        // Never applied in part, as with a bad matcher: clients would refuse the whole table.
        this.#warn(rtKey, routeTableRejected, State.INVALID);
        return;
      }
      const resolved = this.#action(http, rt.metadata.namespace, field);
      const modelAction: ModelAction =
        typeof resolved === "string"
          ? { type: "direct", status: 500, body: `route ${name} is invalid\n` }
          : resolved.action;
      const origins = typeof resolved === "string" ? [rtKey] : [rtKey, ...resolved.origins];
      // Reported by each gateway serving it (routesOf): what the route becomes depends on the clients,
      // Envoy answering 500, gRPC clients left without it.
      const unservable = typeof resolved === "string";
      if (unservable)
        this.#recording?.unservable.push({ routeTable: rtKey, problem: `${field} (${routeName}): ${resolved}` });
      matches.forEach((match, m) => {
        out.push({
          owner: rtKey,
          labels,
          namespace: rt.metadata.namespace,
          route: {
            name: matches.length === 1 ? name : `${name}#${m}`,
            match,
            action: modelAction,
            policies: {},
            origins: [...origins],
            ...(unservable ? { unservable: true as const } : {}),
          },
        });
      });
    });
    return out;
  }

  #matches(http: HttpRoute, fail: (message: string) => void, rtKey: string): ModelMatch[] | undefined {
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
        const problem = q.regex ? validRegex(q.value) : undefined;
        if (problem) {
          fail(`${at}.queryParams[${k}].value: invalid regex: ${problem}`);
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
      // Never applied in part: without this route its traffic could fall to a broader one below.
      this.#warn(rtKey, routeTableRejected, State.INVALID);
      return undefined;
    }
    return out;
  }

  /** A forward to a VirtualDestination: its cluster for the port, or what is wrong. */
  #virtualTarget(
    target: WeightedDestination,
    namespace: string,
    at: string,
  ): { name: string; cluster: string } | string {
    const name = refName(target.virtualDestination ?? { name: "", namespace: "" }, namespace);
    const virtual = this.#virtualDestination(name);
    if (!virtual) return `${at}.virtualDestination: VirtualDestination ${name} not found or invalid`;
    if (target.subset !== "") return `${at}.subset: a VirtualDestination has no subsets`;
    let port = target.port;
    if (port === 0) {
      if (virtual.ports.length !== 1) return `${at}.port: required, ${name} has several ports`;
      port = virtual.ports[0] ?? 0;
    } else if (!virtual.ports.includes(port)) {
      return `${at}.port: ${name} has no port ${port} (it has ${virtual.ports.join(", ")})`;
    }
    return { name, cluster: virtualClusterName(name, port) };
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
          if (target.virtualDestination) {
            if (target.destination) return `${at}: set destination or virtualDestination, not both`;
            const virtual = this.#virtualTarget(target, namespace, at);
            if (typeof virtual === "string") return virtual;
            origins.push(kindKey("VirtualDestination", virtual.name));
            destinations.push({ cluster: virtual.cluster, weight: target.weight || 1 });
            continue;
          }
          if (!target.destination) return `${at}.destination: required (or virtualDestination)`;
          const name = refName(target.destination, namespace);
          origins.push(kindKey("Destination", name));
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
      // One by one: a child's routes spread into push() overflow the call stack when there are many.
      for (const route of this.#flatten(child, stack, inherited)) out.push(route);
    }
    return out;
  }

  #attachPolicies({ route, labels, namespace }: FlatRoute): void {
    // Every route's origins are read here, so by prefix: parsing each key would cost an object per origin.
    const destinationNames = route.origins
      .filter((o) => o.startsWith(destinationKeyPrefix))
      .map((o) => o.slice(destinationKeyPrefix.length));
    const destinations = destinationNames
      .map((name) => this.#destination(name)?.resource.metadata)
      .filter((m) => m !== undefined);
    // A VirtualDestination's members are where its requests go: their AccessPolicies apply.
    const members = route.origins
      .filter((o) => o.startsWith(virtualKeyPrefix))
      .flatMap((o) => this.#virtualDestination(o.slice(virtualKeyPrefix.length))?.members ?? [])
      .filter((member) => this.#destination(member) !== undefined);
    this.#attachAccess(route, [...destinationNames, ...members], members.length > 0);
    // Only products select by route table: the route's tables are read once, and only for them.
    const tables = this.policies.all.some((p) => p.routeTables !== undefined) ? routeTablesOf(route) : [];
    const applied: AttachablePolicy[] = [];
    for (const policy of this.policies.all) {
      const byTable = tables.some((t) => policy.routeTables?.has(t) === true);
      if (!byTable && !appliesTo(policy, namespace, labels, destinations)) continue;
      this.policies.used.add(policy.key);
      this.#recording?.used.push(policy.key);
      if (policy.conflictsWith(route.policies)) {
        this.#warn(policy.key, conflictMessage(route.name, policy, applied), policy.conflictState);
        continue;
      }
      policy.apply(route.policies);
      route.origins.push(policy.key);
      applied.push(policy);
    }
  }

  /**
   * The AccessPolicies of the route's destinations (a VirtualDestination's members among them). A
   * route splitting traffic between destinations whose policies differ cannot enforce each one's on
   * its share (Envoy decides before it picks one), so it refuses every request, and says so: failing
   * closed, never open.
   */
  #attachAccess(route: ModelRoute, destinationNames: string[], viaVirtual: boolean): void {
    const found = [...new Set(destinationNames)].map((name) => this.access.get(name));
    const first = found[0];
    if (found.every((a) => a === undefined)) return;
    // Most routes go to one destination: the same object, compared without serializing it.
    const same = found.every((a) => a === first || (a !== undefined && JSON.stringify(a) === JSON.stringify(first)));
    const access = same && first ? first : { deny: [], allow: [], policies: found.flatMap((a) => a?.policies ?? []) };
    if (!same) {
      this.#warn(
        routeTablesOf(route).at(-1) ?? route.name,
        viaVirtual
          ? `route ${route.name}: the members of its VirtualDestination (or its other destinations) have different AccessPolicies; the route refuses every request (give the members the same policies)`
          : `route ${route.name}: its destinations have different AccessPolicies; the route refuses every request (split it per destination)`,
      );
    }
    route.policies.access = access;
    for (const key of new Set(access.policies)) route.origins.push(key);
  }
}

/**
 * Why a policy is not applied to a route: what the route already has. Another policy of its kind is
 * named by kind alone; a policy of another kind holding the same thing (an ApiProduct's plans hold the
 * route's rate limit before a RateLimitPolicy can) is named whole, since the kind would mislead.
 */
function conflictMessage(route: string, policy: AttachablePolicy, applied: readonly AttachablePolicy[]): string {
  // The holder is the applied policy that alone would set what this one conflicts with.
  const holder = applied.find((other) => {
    const alone: ModelRoutePolicies = {};
    other.apply(alone);
    return policy.conflictsWith(alone);
  });
  const what = holder === undefined || holder.kind === policy.kind ? `a ${policy.kind}` : holder.key;
  return `route ${route} already has ${what} applied; this one is not applied there`;
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
