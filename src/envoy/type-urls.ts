const prefix = "type.googleapis.com/";

/** Type URLs of the Envoy resources Gantry serves. Any other type URL can be served too. */
export const TypeUrl = {
  listener: `${prefix}envoy.config.listener.v3.Listener`,
  route: `${prefix}envoy.config.route.v3.RouteConfiguration`,
  cluster: `${prefix}envoy.config.cluster.v3.Cluster`,
  endpoint: `${prefix}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  secret: `${prefix}envoy.extensions.transport_sockets.tls.v3.Secret`,
  runtime: `${prefix}envoy.service.runtime.v3.Runtime`,
} as const;

/** The type URL of a protobuf message type, as it appears in an `Any`. */
export function typeUrlOf(typeName: string): string {
  return `${prefix}${typeName}`;
}

/**
 * Types whose SotW responses carry the full set, so absence means deletion. RDS, EDS and the
 * rest may be partial.
 */
export function isFullStateType(typeUrl: string): boolean {
  return typeUrl === TypeUrl.listener || typeUrl === TypeUrl.cluster;
}

/**
 * The order of pushes on one ADS stream: clusters warm until their endpoints arrive, listeners
 * until their routes arrive, and routes must only name clusters that exist. Other types follow in
 * name order so the order is stable.
 */
const pushRank = new Map<string, number>([
  [TypeUrl.cluster, 0],
  [TypeUrl.endpoint, 1],
  [TypeUrl.listener, 2],
  [TypeUrl.route, 3],
  [TypeUrl.secret, 4],
]);

export function inPushOrder(typeUrls: Iterable<string>): string[] {
  return [...typeUrls].sort((a, b) => {
    const ra = pushRank.get(a) ?? pushRank.size;
    const rb = pushRank.get(b) ?? pushRank.size;
    return ra !== rb ? ra - rb : a < b ? -1 : a > b ? 1 : 0;
  });
}
