import { create } from "@bufbuild/protobuf";
import {
  type Cluster,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  ClusterSchema,
} from "../../gen/envoy/config/cluster/v3/cluster_pb.js";
import { UpstreamTlsContextSchema } from "../../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { HttpProtocolOptionsSchema } from "../../gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import type { ModelCluster, ModelOutlierDetection } from "../model.js";
import { adsConfigSource, duration, pack } from "./common.js";
import { eastWestSocketMatch } from "./east-west.js";
import { buildLoadAssignment } from "./endpoint.js";
import type { ClientKind } from "./route.js";
import { upstreamWorkloadTls } from "./workload-tls.js";

const http2Options = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/**
 * The cluster of one destination port (and subset): EDS over ADS for static endpoints, LOGICAL_DNS
 * with its one address inline for a DNS name. HTTP/2 upstreams say so; TLS upstreams get their
 * certificates by SDS (Envoy) or, with workload TLS, from gRPC's certificate provider.
 */
export function buildCluster(cluster: ModelCluster, client: ClientKind = "envoy"): Cluster {
  const discovery =
    cluster.discovery.type !== "dns"
      ? {
          clusterDiscoveryType: { case: "type" as const, value: Cluster_DiscoveryType.EDS },
          edsClusterConfig: { edsConfig: adsConfigSource() },
        }
      : {
          clusterDiscoveryType: { case: "type" as const, value: Cluster_DiscoveryType.LOGICAL_DNS },
          loadAssignment: buildLoadAssignment(cluster.name, [
            {
              address: cluster.discovery.host,
              port: cluster.discovery.port,
              weight: 1,
              locality: { region: "", zone: "", subZone: "" },
            },
          ]),
        };
  const tls = cluster.tls;
  return create(ClusterSchema, {
    name: cluster.name,
    connectTimeout: duration(cluster.connectTimeoutMs),
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
    ...discovery,
    ...(cluster.outlierDetection ? { outlierDetection: outlierDetection(cluster.outlierDetection) } : {}),
    ...eastWestMatches(cluster, client),
    ...(cluster.protocol !== "HTTP1"
      ? {
          typedExtensionProtocolOptions: {
            [http2Options]: pack(HttpProtocolOptionsSchema, {
              upstreamProtocolOptions: {
                case: "explicitHttpConfig",
                value: { protocolConfig: { case: "http2ProtocolOptions", value: {} } },
              },
            }),
          },
        }
      : {}),
    ...(cluster.workloadTls
      ? {
          transportSocket: {
            name: "envoy.transport_sockets.tls",
            configType: { case: "typedConfig", value: upstreamWorkloadTls(cluster.workloadTls, client) },
          },
        }
      : {}),
    ...(tls
      ? {
          transportSocket: {
            name: "envoy.transport_sockets.tls",
            configType: {
              case: "typedConfig",
              value: pack(UpstreamTlsContextSchema, {
                sni: tls.sni,
                commonTlsContext: {
                  ...(tls.clientSecret
                    ? { tlsCertificateSdsSecretConfigs: [{ name: tls.clientSecret, sdsConfig: adsConfigSource() }] }
                    : {}),
                  ...(tls.caSecret
                    ? {
                        validationContextType: {
                          case: "validationContextSdsSecretConfig",
                          value: { name: tls.caSecret, sdsConfig: adsConfigSource() },
                        },
                      }
                    : {}),
                },
              }),
            },
          },
        }
      : {}),
  });
}

/**
 * For Envoy callers of a VirtualDestination whose endpoints include east-west gateways: the TLS
 * those endpoints are reached with (envoy/east-west.ts). Direct endpoints keep the cluster's own
 * transport socket. gRPC callers reach every endpoint directly.
 */
function eastWestMatches(cluster: ModelCluster, client: ClientKind) {
  const discovery = cluster.discovery;
  if (client !== "envoy" || discovery.type !== "failover") return {};
  if (Object.keys(discovery.eastWest.gateways).length === 0) return {};
  return { transportSocketMatches: [eastWestSocketMatch(discovery.eastWest.sni, discovery.eastWest.tls)] };
}

/**
 * Outlier detection as Envoy and gRPC (gRFC A50) read it: Envoy ejects on consecutive 5xx, both
 * on a failure percentage; success-rate ejection is left at Envoy's defaults (gRPC clients need 5
 * endpoints for it).
 */
function outlierDetection(od: ModelOutlierDetection) {
  return {
    consecutive5xx: od.consecutiveErrors,
    interval: duration(od.intervalMs),
    baseEjectionTime: duration(od.baseEjectionTimeMs),
    maxEjectionPercent: od.maxEjectionPercent,
    ...(od.failurePercentage
      ? {
          failurePercentageThreshold: od.failurePercentage.threshold,
          enforcingFailurePercentage: 100,
          failurePercentageMinimumHosts: od.failurePercentage.minimumHosts,
          failurePercentageRequestVolume: od.failurePercentage.requestVolume,
        }
      : {}),
  };
}

/** A cluster for one of Gantry's own gRPC services (ext-auth, rate limit) at a fixed address. */
export function buildServiceCluster(name: string, address: { host: string; port: number }): Cluster {
  return buildCluster({
    name,
    destination: name,
    protocol: "GRPC",
    connectTimeoutMs: 1000,
    discovery: { type: "dns", host: address.host, port: address.port },
  });
}
