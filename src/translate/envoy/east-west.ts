// The east-west path in Envoy terms: the gateway's listener (TLS inspected, never terminated, passed
// by SNI to a local cluster with tcp_proxy), and on the caller's side the transport socket that
// originates TLS with that SNI to endpoints marked as reached through a gateway.

import type { JsonObject } from "@bufbuild/protobuf";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Cluster_TransportSocketMatchSchema } from "../../gen/envoy/config/cluster/v3/cluster_pb.js";
import type { TransportSocketSchema } from "../../gen/envoy/config/core/v3/base_pb.js";
import { type Listener, ListenerSchema } from "../../gen/envoy/config/listener/v3/listener_pb.js";
import { TlsInspectorSchema } from "../../gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
import { TcpProxySchema } from "../../gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js";
import {
  CertificateValidationContextSchema,
  SubjectAltNameMatcher_SanType,
} from "../../gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import { UpstreamTlsContextSchema } from "../../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import type { ModelEastWestListener, ModelUpstreamTls } from "../model.js";
import { adsConfigSource, pack } from "./common.js";

/** The SDS secret names every workload's Envoy is served (the shared trust convention). */
export const workloadSecrets = { certificate: "default", trustBundle: "ROOTCA" } as const;

/** The key Envoy reads endpoint metadata under to pick a cluster's transport socket. */
const socketMatchKey = "envoy.transport_socket_match";

/** What marks an endpoint as an east-west gateway, in its metadata and in the cluster's socket match. */
const viaGateway: JsonObject = { "gantry.io/via": "east-west-gateway" };

/** The metadata of an endpoint that is another cluster's east-west gateway. */
export function eastWestEndpointMetadata() {
  return { filterMetadata: { [socketMatchKey]: viaGateway } };
}

/**
 * The TLS a caller originates through an east-west gateway: `sni` picks the destination at the
 * gateway, and the rest is the caller's own TLS to the workload, which the gateway never ends.
 * MUTUAL: the workload certificate and trust bundle by SDS, the peer's SPIFFE IDs checked when given.
 */
export function eastWestTransportSocket(
  sni: string,
  tls: ModelUpstreamTls,
): MessageInitShape<typeof TransportSocketSchema> {
  const trustBundle = { name: workloadSecrets.trustBundle, sdsConfig: adsConfigSource() };
  const validationContextType =
    tls.subjectAltNames.length === 0
      ? { case: "validationContextSdsSecretConfig" as const, value: trustBundle }
      : {
          case: "combinedValidationContext" as const,
          value: {
            defaultValidationContext: create(CertificateValidationContextSchema, {
              matchTypedSubjectAltNames: tls.subjectAltNames.map((id) => ({
                sanType: SubjectAltNameMatcher_SanType.URI,
                matcher: { matchPattern: { case: "exact" as const, value: id } },
              })),
            }),
            validationContextSdsSecretConfig: trustBundle,
          },
        };
  return {
    name: "envoy.transport_sockets.tls",
    configType: {
      case: "typedConfig",
      value: pack(UpstreamTlsContextSchema, {
        sni,
        commonTlsContext: {
          tlsCertificateSdsSecretConfigs: [{ name: workloadSecrets.certificate, sdsConfig: adsConfigSource() }],
          validationContextType,
        },
      }),
    },
  };
}

/** The socket match a VirtualDestination cluster gets for endpoints that are east-west gateways. */
export function eastWestSocketMatch(
  sni: string,
  tls: ModelUpstreamTls,
): MessageInitShape<typeof Cluster_TransportSocketMatchSchema> {
  return { name: "east-west-gateway", match: viaGateway, transportSocket: eastWestTransportSocket(sni, tls) };
}

/**
 * An east-west gateway's listener: the TLS inspector reads the SNI, and each SNI's filter chain
 * forwards the bytes as they are to its local cluster. A connection with another SNI, or none,
 * matches no chain and is closed.
 */
export function buildEastWestListener(options: {
  name: string;
  address: string;
  port: number;
  eastWest: ModelEastWestListener;
}): Listener {
  return create(ListenerSchema, {
    name: options.name,
    address: {
      address: {
        case: "socketAddress",
        value: { address: options.address, portSpecifier: { case: "portValue", value: options.port } },
      },
    },
    listenerFilters: [
      {
        name: "envoy.filters.listener.tls_inspector",
        configType: { case: "typedConfig", value: pack(TlsInspectorSchema, {}) },
      },
    ],
    filterChains: options.eastWest.passthrough.map(({ sni, cluster }) => ({
      name: sni,
      filterChainMatch: { serverNames: [sni] },
      filters: [
        {
          name: "envoy.filters.network.tcp_proxy",
          configType: {
            case: "typedConfig" as const,
            value: pack(TcpProxySchema, { statPrefix: cluster, clusterSpecifier: { case: "cluster", value: cluster } }),
          },
        },
      ],
    })),
  });
}
