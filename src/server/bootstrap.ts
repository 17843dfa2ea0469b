import { isIP } from "node:net";
import { create, createRegistry, type JsonObject, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { type Bootstrap, BootstrapSchema } from "../gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import {
  Cluster_DiscoveryType,
  Cluster_DnsLookupFamily,
  type ClusterSchema,
} from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ApiConfigSource_ApiType, ApiVersion } from "../gen/envoy/config/core/v3/config_source_pb.js";
import { OpenTelemetryConfigSchema } from "../gen/envoy/config/trace/v3/opentelemetry_pb.js";
import { SubjectAltNameMatcher_SanType } from "../gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import { UpstreamTlsContextSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { HttpProtocolOptionsSchema } from "../gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import { clusterNameRule, isClusterName } from "../resources/index.js";

/** The static cluster through which Envoy reaches the management server. */
export const xdsClusterName = "gantry-xds";

export const proxyRoles = ["gateway", "sidecar"] as const;
export type ProxyRole = (typeof proxyRoles)[number];

export interface BootstrapOptions {
  nodeId: string;
  role: ProxyRole;
  /** Labels that Gateway selectors match; sent as node metadata `labels`. */
  labels: Readonly<Record<string, string>>;
  /** Where the management server's xDS port is, as Envoy will resolve it (DNS name or IP). */
  xdsHost: string;
  xdsPort: number;
  /**
   * Envoy's node cluster; defaults to `gantry-<role>`. When given, also the workload cluster the
   * proxy runs in (node metadata `cluster`): Gateway placement and VirtualDestination priorities read it.
   */
  cluster?: string;
  /** Envoy admin listener; defaults to 127.0.0.1 and 9901 (gateway) or 15000 (sidecar). */
  adminHost?: string;
  adminPort?: number;
  /** State-of-the-world ADS instead of delta (for management servers without delta). */
  stateOfTheWorld?: boolean;
  /** The xDS port serves TLS: files as the proxy sees them (Envoy reads and watches them itself). */
  xdsTls?: XdsClientTls;
  /** Send spans to an OpenTelemetry collector's OTLP/gRPC port (Envoy's OpenTelemetry tracer). */
  tracingCollector?: { host: string; port: number };
  /**
   * The proxy's workload token: sent as `authorization: Bearer` in the ADS stream's initial metadata,
   * so the agent serves it its SDS secrets `default` and `ROOTCA` (docs/security.md). It is a
   * credential: the bootstrap file holding it must be readable by the proxy only.
   */
  workloadToken?: string;
}

/** The static cluster through which Envoy sends spans to the OpenTelemetry collector. */
export const tracingClusterName = "gantry-otel-collector";

/** How a proxy or gRPC client reaches a TLS xDS port. Paths are on the client's host, not Gantry's. */
export interface XdsClientTls {
  /** CA bundle that signed the xDS server's certificate. */
  caFile: string;
  /** The client's certificate and key, for an xDS port that requires client certificates (mTLS). */
  certFile?: string;
  keyFile?: string;
  /** The name the server's certificate must carry (and SNI); default the xDS host. */
  serverName?: string;
}

/** Checks the TLS options of a bootstrap; `--xds-*` flags name them. */
export function checkXdsClientTls(tls: XdsClientTls | undefined): void {
  if (tls === undefined) return;
  if (tls.caFile === "") throw new BootstrapOptionsError("--xds-ca-file", "must not be empty");
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new BootstrapOptionsError("--xds-cert-file", "goes with --xds-key-file: give both or neither");
  }
}

/**
 * Envoy's TLS transport socket for the xDS cluster: the server's certificate must chain to the CA
 * and carry the server name (Envoy checks no name unless told), and the client shows its own
 * certificate when given.
 */
function xdsTransportSocket(tls: XdsClientTls, xdsHost: string) {
  const serverName = tls.serverName ?? xdsHost;
  const byIp = isIP(serverName) !== 0;
  return {
    name: "envoy.transport_sockets.tls",
    configType: {
      case: "typedConfig",
      value: anyPack(
        UpstreamTlsContextSchema,
        create(UpstreamTlsContextSchema, {
          // SNI carries host names only (RFC 6066).
          ...(byIp ? {} : { sni: serverName }),
          commonTlsContext: {
            alpnProtocols: ["h2"],
            ...(tls.certFile && tls.keyFile
              ? {
                  tlsCertificates: [
                    {
                      certificateChain: { specifier: { case: "filename", value: tls.certFile } },
                      privateKey: { specifier: { case: "filename", value: tls.keyFile } },
                    },
                  ],
                }
              : {}),
            validationContextType: {
              case: "validationContext",
              value: {
                trustedCa: { specifier: { case: "filename", value: tls.caFile } },
                matchTypedSubjectAltNames: [
                  {
                    sanType: byIp ? SubjectAltNameMatcher_SanType.IP_ADDRESS : SubjectAltNameMatcher_SanType.DNS,
                    matcher: { matchPattern: { case: "exact", value: serverName } },
                  },
                ],
              },
            },
          },
        }),
      ),
    },
  } as const;
}

export class BootstrapOptionsError extends Error {
  constructor(option: string, problem: string) {
    super(`${option}: ${problem}`);
    this.name = "BootstrapOptionsError";
  }
}

const labelKey = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function check(options: BootstrapOptions): void {
  if (options.nodeId.trim() === "") throw new BootstrapOptionsError("--node-id", "must not be empty");
  if (!proxyRoles.includes(options.role)) {
    throw new BootstrapOptionsError("--role", `"${options.role}" is not one of ${proxyRoles.join(", ")}`);
  }
  if (options.xdsHost === "") throw new BootstrapOptionsError("--xds-address", "the host must not be empty");
  if (options.tracingCollector?.host === "") {
    throw new BootstrapOptionsError("--tracing-collector", "the host must not be empty");
  }
  for (const port of [options.xdsPort, options.adminPort, options.tracingCollector?.port]) {
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new BootstrapOptionsError("port", `${port} is not a port number (1-65535)`);
    }
  }
  checkLabels(options.labels);
  checkCluster(options.cluster);
  checkXdsClientTls(options.xdsTls);
}

/** A workload cluster name, as agents and `metadata.clusters` spell it. */
export function checkCluster(cluster: string | undefined): void {
  if (cluster !== undefined && !isClusterName(cluster)) {
    throw new BootstrapOptionsError("--cluster", `"${cluster}" is not a cluster name: it must be ${clusterNameRule}`);
  }
}

/** Node labels as Kubernetes spells label keys; Envoy and gRPC bootstraps check them alike. */
export function checkLabels(labels: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(labels)) {
    if (!labelKey.test(key)) throw new BootstrapOptionsError("--labels", `"${key}" is not a valid label key`);
  }
}

/**
 * An Envoy bootstrap that takes all its config from Gantry over one ADS stream (delta by default):
 * LDS and CDS through ADS, everything they reference (RDS, EDS, SDS) through ADS too.
 */
export function buildBootstrap(options: BootstrapOptions): Bootstrap {
  check(options);
  const adminPort = options.adminPort ?? (options.role === "gateway" ? 9901 : 15000);
  const ads = { configSourceSpecifier: { case: "ads", value: {} }, resourceApiVersion: ApiVersion.V3 } as const;
  return create(BootstrapSchema, {
    node: {
      id: options.nodeId,
      cluster: options.cluster ?? `gantry-${options.role}`,
      metadata: {
        role: options.role,
        labels: { ...options.labels },
        ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
      },
    },
    dynamicResources: {
      adsConfig: {
        apiType: options.stateOfTheWorld ? ApiConfigSource_ApiType.GRPC : ApiConfigSource_ApiType.DELTA_GRPC,
        transportApiVersion: ApiVersion.V3,
        setNodeOnFirstMessageOnly: true,
        grpcServices: [
          {
            targetSpecifier: { case: "envoyGrpc", value: { clusterName: xdsClusterName } },
            ...(options.workloadToken === undefined
              ? {}
              : { initialMetadata: [{ key: "authorization", value: `Bearer ${options.workloadToken}` }] }),
          },
        ],
      },
      cdsConfig: ads,
      ldsConfig: ads,
    },
    staticResources: {
      clusters: [
        grpcCluster(
          xdsClusterName,
          options.xdsHost,
          options.xdsPort,
          options.xdsTls ? xdsTransportSocket(options.xdsTls, options.xdsHost) : undefined,
        ),
        ...(options.tracingCollector
          ? [grpcCluster(tracingClusterName, options.tracingCollector.host, options.tracingCollector.port)]
          : []),
      ],
    },
    ...(options.tracingCollector
      ? {
          tracing: {
            http: {
              name: "envoy.tracers.opentelemetry",
              configType: {
                case: "typedConfig",
                value: anyPack(
                  OpenTelemetryConfigSchema,
                  create(OpenTelemetryConfigSchema, {
                    grpcService: {
                      targetSpecifier: { case: "envoyGrpc", value: { clusterName: tracingClusterName } },
                      timeout: { seconds: 1n },
                    },
                    serviceName: options.cluster ?? `gantry-${options.role}`,
                  }),
                ),
              },
            },
          },
        }
      : {}),
    admin: {
      address: {
        address: {
          case: "socketAddress",
          value: { address: options.adminHost ?? "127.0.0.1", portSpecifier: { case: "portValue", value: adminPort } },
        },
      },
    },
  });
}

/** A static HTTP/2 (gRPC) cluster of one DNS name, kept alive through idle NATs and proxies. */
function grpcCluster(
  name: string,
  host: string,
  port: number,
  transportSocket?: ReturnType<typeof xdsTransportSocket>,
): MessageInitShape<typeof ClusterSchema> {
  return {
    name,
    ...(transportSocket ? { transportSocket } : {}),
    connectTimeout: { seconds: 5n },
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STRICT_DNS },
    dnsLookupFamily: Cluster_DnsLookupFamily.V4_PREFERRED,
    typedExtensionProtocolOptions: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": anyPack(
        HttpProtocolOptionsSchema,
        create(HttpProtocolOptionsSchema, {
          upstreamProtocolOptions: {
            case: "explicitHttpConfig",
            value: {
              protocolConfig: {
                case: "http2ProtocolOptions",
                value: { connectionKeepalive: { interval: { seconds: 30n }, timeout: { seconds: 5n } } },
              },
            },
          },
        }),
      ),
    },
    loadAssignment: {
      clusterName: name,
      endpoints: [
        {
          lbEndpoints: [
            {
              hostIdentifier: {
                case: "endpoint",
                value: {
                  address: {
                    address: {
                      case: "socketAddress",
                      value: { address: host, portSpecifier: { case: "portValue", value: port } },
                    },
                  },
                },
              },
            },
          ],
        },
      ],
    },
  };
}

/** The types a bootstrap packs into `Any`, so that JSON output and parsing can name them. */
export const bootstrapTypes = createRegistry(
  HttpProtocolOptionsSchema,
  UpstreamTlsContextSchema,
  OpenTelemetryConfigSchema,
);

/** The bootstrap as proto JSON with snake_case field names, as Envoy's docs write it (Envoy reads both). */
export function bootstrapToJson(bootstrap: Bootstrap): JsonObject {
  return toJson(BootstrapSchema, bootstrap, { registry: bootstrapTypes, useProtoFieldName: true }) as JsonObject;
}
