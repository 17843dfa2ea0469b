import { create } from "@bufbuild/protobuf";
import { type Listener, ListenerSchema } from "../../gen/envoy/config/listener/v3/listener_pb.js";
import {
  HttpConnectionManager_CodecType,
  HttpConnectionManagerSchema,
} from "../../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { DownstreamTlsContextSchema } from "../../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import type { ModelListenerTls } from "../model.js";
import { adsConfigSource, pack } from "./common.js";
import { buildHttpFilters, type FilterNeeds } from "./filters.js";

function connectionManager(statPrefix: string, routeConfigName: string, needs: FilterNeeds) {
  return pack(HttpConnectionManagerSchema, {
    statPrefix,
    codecType: HttpConnectionManager_CodecType.AUTO,
    routeSpecifier: { case: "rds", value: { configSource: adsConfigSource(), routeConfigName } },
    httpFilters: buildHttpFilters(needs),
    // Tracing on, with the provider left to the bootstrap: an Envoy started from `gantry bootstrap
    // --tracing-collector` sends spans to that collector, one without a tracer records none. Requests
    // that arrive sampled (traceparent, b3) are followed; 1% of the others start a trace, as Gantry's
    // own services sample by default.
    tracing: { randomSampling: { value: 1 } },
  });
}

/** An Envoy listener on one gateway port: one filter chain, the HTTP connection manager on RDS. */
export function buildListener(options: {
  name: string;
  address: string;
  port: number;
  routeConfigName: string;
  tls?: ModelListenerTls | undefined;
  needs: FilterNeeds;
}): Listener {
  const tls = options.tls;
  return create(ListenerSchema, {
    name: options.name,
    address: {
      address: {
        case: "socketAddress",
        value: { address: options.address, portSpecifier: { case: "portValue", value: options.port } },
      },
    },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            configType: {
              case: "typedConfig",
              value: connectionManager(options.name, options.routeConfigName, options.needs),
            },
          },
        ],
        ...(tls
          ? {
              transportSocket: {
                name: "envoy.transport_sockets.tls",
                configType: {
                  case: "typedConfig",
                  value: pack(DownstreamTlsContextSchema, {
                    ...(tls.mode === "MUTUAL" ? { requireClientCertificate: true } : {}),
                    commonTlsContext: {
                      tlsCertificateSdsSecretConfigs: [{ name: tls.secret, sdsConfig: adsConfigSource() }],
                      ...(tls.clientCa
                        ? {
                            validationContextType: {
                              case: "validationContextSdsSecretConfig",
                              value: { name: tls.clientCa, sdsConfig: adsConfigSource() },
                            },
                          }
                        : {}),
                    },
                  }),
                },
              },
            }
          : {}),
      },
    ],
  });
}

/**
 * The listener a proxyless gRPC client asks for by its target's host name: an api_listener
 * holding the HTTP connection manager, routes by RDS.
 */
export function buildApiListener(host: string, routeConfigName: string, needs: FilterNeeds): Listener {
  return create(ListenerSchema, {
    name: host,
    apiListener: { apiListener: connectionManager(host, routeConfigName, needs) },
  });
}
