// One proxy group's configuration, made by the processors in turn. Each reads the model and writes
// what it builds and what is wrong with it into the group; what they compute is memoised outside
// (compute.ts), so a processor is only the walk from model to output.

import type { XdsResource as EnvoyResource } from "../../envoy/index.js";
import type { CheckedResource, Violation } from "../check.js";
import type { ClientKind } from "../envoy/route.js";
import type { Kept } from "../memo.js";
import type { Model, ModelGateway } from "../model.js";
import { processClusters, processServiceClusters } from "./clusters.js";
import type { Compute } from "./compute.js";
import { processListener, processServerListener } from "./listeners.js";
import { processRouteConfiguration } from "./routes.js";
import { processSecrets } from "./secrets.js";

/** The client kind of a gateway whose proxies route (Envoy, proxyless gRPC clients); gRPC servers route nothing. */
export function clientOf(gateway: ModelGateway): ClientKind {
  if (gateway.kind === "grpc-server") throw new Error(`Gateway ${gateway.name}: a gRPC server gateway has no routes`);
  return gateway.kind;
}

/** Where Envoy reaches Gantry's own services. */
export interface ServiceAddresses {
  extAuth?: { host: string; port: number };
  rateLimit?: { host: string; port: number };
}

/** What the processors of one group read and write. */
export interface GroupContext {
  readonly gateway: ModelGateway;
  readonly model: Model;
  readonly services: ServiceAddresses;
  readonly compute: Compute;
  /** The clusters the group's routes forward to, added by the route processor. */
  readonly clusters: Set<string>;
  /**
   * Adds a resource to the group, blaming its violations on `origin` (`Kind/namespace/name`) as
   * "`what` `name`" (put together only then: most resources have none).
   */
  add(built: Kept<CheckedResource>, origin: string, what: string, name: string): void;
  /** Like `add`, for the callers in one workload cluster only: it replaces the resource of the same name. */
  addForCallersIn(cluster: string, built: Kept<CheckedResource>, origin: string, what: string, name: string): void;
  /** Blames violations on the resources that produced them. */
  blame(origins: Iterable<string>, violations: readonly Violation[], what: string): void;
}

/** A group's resources, sorted, and per blamed resource the validation problems found. */
export interface BuiltGroup {
  resources: EnvoyResource[];
  /** By caller cluster: resources that replace those of the same name in `resources` for its proxies. */
  byCallerCluster: Map<string, EnvoyResource[]>;
  /** Empty when every resource passed validation. */
  blame: Map<string, Set<string>>;
}

export function buildGroup(
  gateway: ModelGateway,
  model: Model,
  compute: Compute,
  services: ServiceAddresses,
): BuiltGroup {
  const out: Kept<CheckedResource>[] = [];
  const byCaller = new Map<string, Kept<CheckedResource>[]>();
  const blame = new Map<string, Set<string>>();
  const group: GroupContext = {
    gateway,
    model,
    services,
    compute,
    clusters: new Set(),
    add(built, origin, what, name) {
      if (built.value.violations.length > 0) this.blame([origin], built.value.violations, `${what} ${name}`);
      out.push(built);
    },
    addForCallersIn(cluster, built, origin, what, name) {
      if (built.value.violations.length > 0) this.blame([origin], built.value.violations, `${what} ${name}`);
      const list = byCaller.get(cluster) ?? [];
      list.push(built);
      byCaller.set(cluster, list);
    },
    blame(origins, violations, what) {
      for (const key of origins) {
        const messages = blame.get(key) ?? new Set<string>();
        for (const v of violations) messages.add(`${what}: ${v.path || "(root)"}: ${v.message}`);
        blame.set(key, messages);
      }
    },
  };
  if (gateway.kind === "grpc-server") {
    for (const listener of gateway.listeners) processServerListener(group, listener);
  } else {
    // Listener by listener, so that problems are reported in the order the listeners are written.
    for (const listener of gateway.listeners) {
      processRouteConfiguration(group, listener);
      processListener(group, listener);
    }
    processClusters(group);
    processServiceClusters(group);
    processSecrets(group);
  }
  const byCallerCluster = new Map<string, EnvoyResource[]>();
  for (const cluster of [...byCaller.keys()].sort()) {
    byCallerCluster.set(cluster, compute.sorted(byCaller.get(cluster) ?? []));
  }
  return { resources: compute.sorted(out), byCallerCluster, blame };
}
