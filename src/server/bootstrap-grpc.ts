import { join } from "node:path";
import { BootstrapOptionsError, checkCluster, checkLabels, checkXdsClientTls, type XdsClientTls } from "./bootstrap.js";

/**
 * The name xDS-enabled gRPC servers ask for their Listener by: `%s` is replaced by the address the
 * server listens on (`0.0.0.0:50051`, `[::]:50051`). The `grpc/server` prefix is gRPC's own
 * convention (gRFC A36); Gantry serves server listeners under this name.
 */
export const defaultServerListenerTemplate = "grpc/server?xds.resource.listening_address=%s";

export interface GrpcBootstrapOptions {
  nodeId: string;
  /** Labels that Gateway selectors match; sent as node metadata `labels`. */
  labels: Readonly<Record<string, string>>;
  /** Where the management server's xDS port is, as the client will resolve it. */
  xdsHost: string;
  xdsPort: number;
  /** The node's cluster; defaults to `gantry-grpc`. When given, also its workload cluster (metadata `cluster`). */
  cluster?: string;
  /** Where the client runs, for locality-aware load balancing. */
  locality?: { region?: string; zone?: string; subZone?: string };
  serverListenerTemplate?: string;
  /**
   * The xDS port serves TLS: `tls` channel credentials (gRFC A65) with these files, as the client
   * sees them. gRPC checks the server's certificate against the host of the xDS address.
   */
  xdsTls?: Omit<XdsClientTls, "serverName">;
  /**
   * A folder holding the workload's `cert-chain.pem`, `key.pem` and `root-cert.pem` (the agent's
   * `--workload-certs-dir/<ns>/<sa>/`): the bootstrap then names it as certificate provider instance
   * `gantry` (`file_watcher`), which the xDS security config refers to.
   */
  certsDir?: string;
  /** How often gRPC reads the files again, in seconds. Default 10, so a rotation is taken well before the old certificate expires. */
  certsRefreshSeconds?: number;
}

/** The certificate provider instance name xDS security config refers to (the lead's shared convention). */
export const certificateProviderInstance = "gantry";

/** `tls` channel credentials' config (gRFC A65), the file watcher certificate provider's fields. */
interface TlsChannelCredsConfig {
  ca_certificate_file: string;
  certificate_file?: string;
  private_key_file?: string;
}

/** gRPC's xDS bootstrap (gRFC A27) as the JSON every gRPC language reads. */
export interface GrpcBootstrap {
  xds_servers: Array<{
    server_uri: string;
    channel_creds: Array<{ type: "insecure" } | { type: "tls"; config: TlsChannelCredsConfig }>;
    server_features: string[];
  }>;
  node: {
    id: string;
    cluster: string;
    metadata: { role: string; labels: Record<string, string>; cluster?: string };
    locality: { region?: string; zone?: string; sub_zone?: string };
  };
  server_listener_resource_name_template: string;
  certificate_providers?: Record<
    string,
    {
      plugin_name: "file_watcher";
      config: {
        certificate_file: string;
        private_key_file: string;
        ca_certificate_file: string;
        refresh_interval: string;
      };
    }
  >;
}

function check(options: GrpcBootstrapOptions): void {
  if (options.nodeId.trim() === "") throw new BootstrapOptionsError("--node-id", "must not be empty");
  if (options.xdsHost === "") throw new BootstrapOptionsError("--xds-address", "the host must not be empty");
  if (!Number.isInteger(options.xdsPort) || options.xdsPort < 1 || options.xdsPort > 65535) {
    throw new BootstrapOptionsError("--xds-address", `${options.xdsPort} is not a port number (1-65535)`);
  }
  checkLabels(options.labels);
  checkCluster(options.cluster);
  checkXdsClientTls(options.xdsTls);
  if (options.certsDir !== undefined && options.certsDir.trim() === "") {
    throw new BootstrapOptionsError("--certs-dir", "must not be empty");
  }
  const template = options.serverListenerTemplate;
  if (template !== undefined && !template.includes("%s")) {
    throw new BootstrapOptionsError("--server-listener-template", `"${template}" has no %s for the listening address`);
  }
}

/**
 * A bootstrap for proxyless gRPC clients and xDS-enabled gRPC servers (Go, Java, C-core and its
 * wrappers, grpc-js-xds): one xDS server, Gantry's, over plaintext or TLS (`tls` channel credentials,
 * gRFC A65: Go, Java and C-core read them; grpc-js-xds 1.14 knows only `insecure` and
 * `google_default`). With TLS there is no `insecure` fallback: a client that cannot do TLS fails
 * rather than fall back to plaintext. gRPC speaks state-of-the-world ADS only, so there is no delta switch. The node carries the
 * same `role` and `labels` metadata as Envoy bootstraps, so Gateway selectors treat both alike, and
 * always a `locality` (grpc-js-xds refuses a node without one).
 */
export function buildGrpcBootstrap(options: GrpcBootstrapOptions): GrpcBootstrap {
  check(options);
  const host = options.xdsHost.includes(":") ? `[${options.xdsHost}]` : options.xdsHost;
  const locality = options.locality ?? {};
  const tls = options.xdsTls;
  return {
    xds_servers: [
      {
        server_uri: `${host}:${options.xdsPort}`,
        channel_creds: [tls ? { type: "tls", config: tlsConfig(tls) } : { type: "insecure" }],
        // v3 is the only transport version Gantry serves; older clients need to be told.
        server_features: ["xds_v3"],
      },
    ],
    node: {
      id: options.nodeId,
      cluster: options.cluster ?? "gantry-grpc",
      metadata: {
        role: "grpc",
        labels: { ...options.labels },
        ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
      },
      locality: {
        ...(locality.region ? { region: locality.region } : {}),
        ...(locality.zone ? { zone: locality.zone } : {}),
        ...(locality.subZone ? { sub_zone: locality.subZone } : {}),
      },
    },
    server_listener_resource_name_template: options.serverListenerTemplate ?? defaultServerListenerTemplate,
    ...(options.certsDir === undefined
      ? {}
      : {
          certificate_providers: {
            [certificateProviderInstance]: {
              plugin_name: "file_watcher",
              config: {
                certificate_file: join(options.certsDir, "cert-chain.pem"),
                private_key_file: join(options.certsDir, "key.pem"),
                ca_certificate_file: join(options.certsDir, "root-cert.pem"),
                refresh_interval: `${options.certsRefreshSeconds ?? 10}s`,
              },
            },
          },
        }),
  };
}

function tlsConfig(tls: Omit<XdsClientTls, "serverName">): TlsChannelCredsConfig {
  return {
    ca_certificate_file: tls.caFile,
    ...(tls.certFile ? { certificate_file: tls.certFile } : {}),
    ...(tls.keyFile ? { private_key_file: tls.keyFile } : {}),
  };
}

/** Parses `region[/zone[/sub-zone]]`. */
export function parseLocality(value: string): { region?: string; zone?: string; subZone?: string } {
  const parts = value.split("/");
  if (parts.length > 3 || parts.some((p) => p === "")) {
    throw new BootstrapOptionsError("--locality", `"${value}" is not region[/zone[/sub-zone]]`);
  }
  const [region, zone, subZone] = parts;
  return { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subZone ? { subZone } : {}) };
}
