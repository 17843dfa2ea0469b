// What the processors compute from the model, each memoised by its inputs (memo.ts). Processors
// call these and never see a cache: which inputs key a value is decided here, and only here.

import { type XdsResource as EnvoyResource, encodeResource, sortResources } from "../../envoy/index.js";
import { ClusterSchema } from "../../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../gen/envoy/config/listener/v3/listener_pb.js";
import { type Route, RouteSchema, VirtualHostSchema } from "../../gen/envoy/config/route/v3/route_components_pb.js";
import { RouteConfigurationSchema } from "../../gen/envoy/config/route/v3/route_pb.js";
import { SecretSchema } from "../../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { type CheckedResource, check, encodeChecked, type Violation } from "../check.js";
import { buildCluster, buildServiceCluster } from "../envoy/cluster.js";
import { buildEastWestListener } from "../envoy/east-west.js";
import { buildFailoverAssignment, buildLoadAssignment } from "../envoy/endpoint.js";
import { type FilterNeeds, filterNeeds } from "../envoy/filters.js";
import { buildApiListener, buildListener } from "../envoy/listener.js";
import { buildRoute, buildRouteConfiguration, buildVirtualHost, type ClientKind } from "../envoy/route.js";
import { buildSecret } from "../envoy/secret.js";
import { buildServerListener } from "../envoy/server-listener.js";
import type { Kept, Memo } from "../memo.js";
import type {
  ModelCluster,
  ModelEastWestListener,
  ModelListener,
  ModelListenerTls,
  ModelRoute,
  ModelSecret,
  ModelVirtualHost,
} from "../model.js";

/** A route built for one kind of client, and checked. */
export interface CheckedRoute {
  route: Route;
  violations: Violation[];
}

/** The routes of one virtual host, built and checked, with the clusters they forward to. */
export interface BuiltHost {
  routes: Route[];
  /** The built routes' ids: equal ids, equal routes. */
  ids: string;
  clusters: string[];
  problems: { origins: string[]; violations: Violation[]; what: string }[];
}

export interface ClusterResources {
  cluster: Kept<CheckedResource>;
  /** For a VirtualDestination: as callers in no member cluster see them. */
  endpoints: Kept<CheckedResource> | undefined;
  /**
   * A VirtualDestination's endpoints as callers in each member cluster see them (their own cluster
   * first), for the member clusters where that differs from `endpoints`.
   */
  endpointsByCaller?: ReadonlyMap<string, Kept<CheckedResource>>;
}

export interface ListenerInputs {
  address: string;
  port: number;
  routeConfigName: string;
  tls: ModelListenerTls | undefined;
  needs: FilterNeeds;
}

export interface Compute {
  /** Which filters a listener's routes need, for its filter chain and its routes' configs. */
  needs(listener: ModelListener, client: ClientKind): FilterNeeds;
  /** A route table's routes for a listener with or without the ext-auth filter. */
  host(routes: readonly ModelRoute[], client: ClientKind, extAuth: boolean): BuiltHost;
  /** A virtual host's own violations, without its routes (those are checked one by one). */
  virtualHostProblems(vhost: ModelVirtualHost, httpsRedirect: boolean): Violation[];
  /** Not checked whole: its routes and virtual hosts are. */
  routeConfiguration(
    name: string,
    hosts: readonly { vhost: ModelVirtualHost; built: BuiltHost }[],
    httpsRedirect: boolean,
  ): Kept<CheckedResource>;
  listener(name: string, inputs: ListenerInputs): Kept<CheckedResource>;
  apiListener(host: string, routeConfigName: string, needs: FilterNeeds): Kept<CheckedResource>;
  /** A destination cluster for one kind of caller, with its endpoints when they are static (served by EDS). */
  cluster(cluster: ModelCluster, client: ClientKind): ClusterResources;
  /** The Listener an xDS-enabled gRPC server asks for by its listening address. */
  serverListener(listener: ModelListener): Kept<CheckedResource>;
  /** An east-west gateway's listener: TLS passed through by SNI. */
  eastWestListener(name: string, listener: ModelListener, eastWest: ModelEastWestListener): Kept<CheckedResource>;
  serviceCluster(name: string, address: { host: string; port: number }): Kept<CheckedResource>;
  secret(secret: ModelSecret): Kept<CheckedResource>;
  /** A group's resources sorted; the same built resources give the very same array, unsorted again. */
  sorted(built: readonly Kept<CheckedResource>[]): EnvoyResource[];
}

/** The computations of one translator, each kept by its inputs in `memo`. */
export function memoizedCompute(memo: Memo): Compute {
  const routes = memo.byObject<ModelRoute, CheckedRoute>();
  const hosts = memo.byObject<readonly ModelRoute[], BuiltHost>();
  const hostNeeds = memo.byObject<readonly ModelRoute[], FilterNeeds>();
  const clusters = memo.byObject<ModelCluster, ClusterResources>();
  const checks = memo.keyed<Violation[]>();
  const resources = memo.keyed<CheckedResource>();
  const groups = memo.keyed<EnvoyResource[]>();

  // Unchanged route tables give the very same model routes and routes arrays (see RouteMemo), so
  // routes and hosts are kept by model object: a changed route table's routes are rebuilt.
  const route = (r: ModelRoute, client: ClientKind, extAuth: boolean) =>
    routes.get(r, `${client}|${extAuth}`, () => {
      const built = buildRoute(r, client, extAuth);
      return { route: built, violations: check(RouteSchema, built) };
    });

  // Model clusters of an unchanged destination are the same objects; equal content from another
  // object (a destination edited elsewhere) still finds the resources it built, by content.
  // Envoy and gRPC callers differ in workload TLS (SDS for Envoy, a certificate provider for gRPC) and in
  // how they reach a VirtualDestination's other clusters.
  const clusterResources = (cluster: ModelCluster, client: ClientKind): ClusterResources => {
    const json = JSON.stringify(cluster);
    const { discovery } = cluster;
    const variant = discovery.type === "failover" || cluster.workloadTls ? client : "any";
    const built = resources.get(`cluster|${variant}|${json}`, () =>
      encodeChecked(ClusterSchema, cluster.name, buildCluster(cluster, client)),
    );
    if (discovery.type === "failover") {
      const endpointsFor = (caller: string) =>
        resources.get(`eds|${client}|${caller}|${json}`, () =>
          encodeChecked(
            ClusterLoadAssignmentSchema,
            cluster.name,
            buildFailoverAssignment(cluster.name, discovery, caller, client),
          ),
        );
      const outside = endpointsFor("");
      const endpointsByCaller = new Map<string, Kept<CheckedResource>>();
      for (const caller of Object.keys(discovery.endpoints)) {
        const own = endpointsFor(caller);
        if (own.value.resource.version !== outside.value.resource.version) endpointsByCaller.set(caller, own);
      }
      return { cluster: built, endpoints: outside, endpointsByCaller };
    }
    return {
      cluster: built,
      endpoints:
        discovery.type === "static"
          ? resources.get(`eds|${json}`, () =>
              encodeChecked(
                ClusterLoadAssignmentSchema,
                cluster.name,
                buildLoadAssignment(cluster.name, discovery.endpoints),
              ),
            )
          : undefined,
    };
  };

  return {
    needs: (listener, client) => {
      const needs: FilterNeeds = { cors: false, fault: false, extAuth: false, rateLimit: false, access: false };
      for (const { routes: r } of listener.virtualHosts) {
        const one = hostNeeds.get(r, client, () => filterNeeds(r, client)).value;
        needs.cors ||= one.cors;
        needs.fault ||= one.fault;
        needs.extAuth ||= one.extAuth;
        needs.rateLimit ||= one.rateLimit;
        needs.access ||= one.access;
      }
      return needs;
    },

    host: (r, client, extAuth) =>
      hosts.get(r, `${client}|${extAuth}`, () => {
        const built = r.map((one) => route(one, client, extAuth));
        return {
          routes: built.map((b) => b.value.route),
          ids: built.map((b) => b.id).join(","),
          clusters: [
            ...new Set(
              r.flatMap((one) => (one.action.type === "forward" ? one.action.destinations.map((d) => d.cluster) : [])),
            ),
          ],
          problems: built.flatMap((b, i) => {
            const one = r[i];
            return b.value.violations.length > 0 && one
              ? [{ origins: one.origins, violations: b.value.violations, what: `route ${one.name}` }]
              : [];
          }),
        };
      }).value,

    virtualHostProblems: (vhost, httpsRedirect) =>
      checks.get(`vhost|${vhost.name}|${vhost.domains.join(",")}|${httpsRedirect}`, () =>
        check(VirtualHostSchema, buildVirtualHost(vhost, [], httpsRedirect)),
      ).value,

    routeConfiguration: (name, vhosts, httpsRedirect) => {
      const key = vhosts
        .map(({ vhost, built }) => `${vhost.name}|${vhost.domains.join(",")}|${httpsRedirect}|${built.ids}`)
        .join("\n");
      return resources.get(`route|${name}|${key}`, () => {
        const message = buildRouteConfiguration(
          name,
          vhosts.map(({ vhost, built }) => buildVirtualHost(vhost, built.routes, httpsRedirect)),
        );
        return { resource: encodeResource(RouteConfigurationSchema, message, name), violations: [] };
      });
    },

    listener: (name, inputs) =>
      resources.get(`${ListenerSchema.typeName}|${name}|${JSON.stringify(inputs)}`, () =>
        encodeChecked(ListenerSchema, name, buildListener({ name, ...inputs })),
      ),

    apiListener: (host, routeConfigName, filters) =>
      resources.get(`${ListenerSchema.typeName}|${host}|${routeConfigName}|${JSON.stringify(filters)}`, () =>
        encodeChecked(ListenerSchema, host, buildApiListener(host, routeConfigName, filters)),
      ),

    cluster: (cluster, client) => clusters.get(cluster, client, (c) => clusterResources(c, client)).value,

    serverListener: (listener) =>
      resources.get(`${ListenerSchema.typeName}|server|${JSON.stringify(listener)}`, () =>
        encodeChecked(ListenerSchema, listener.name, buildServerListener(listener)),
      ),

    eastWestListener: (name, listener, eastWest) =>
      resources.get(
        `${ListenerSchema.typeName}|east-west|${name}|${listener.bindAddress}|${listener.port}|${JSON.stringify(eastWest.passthrough)}`,
        () =>
          encodeChecked(
            ListenerSchema,
            name,
            buildEastWestListener({ name, address: listener.bindAddress, port: listener.port, eastWest }),
          ),
      ),

    serviceCluster: (name, address) =>
      resources.get(`${ClusterSchema.typeName}|${name}|${JSON.stringify(address)}`, () =>
        encodeChecked(ClusterSchema, name, buildServiceCluster(name, address)),
      ),

    secret: (secret) =>
      resources.get(`${SecretSchema.typeName}|${secret.name}|${JSON.stringify(secret)}`, () =>
        encodeChecked(SecretSchema, secret.name, buildSecret(secret)),
      ),

    sorted: (built) =>
      groups.get(built.map((b) => b.id).join(","), () => sortResources(built.map((b) => b.value.resource))).value,
  };
}
