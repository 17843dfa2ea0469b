import { create } from "@bufbuild/protobuf";
import { type Listener, ListenerSchema } from "../../gen/envoy/config/listener/v3/listener_pb.js";
import { RouterSchema } from "../../gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import {
  HttpConnectionManager_CodecType,
  HttpConnectionManagerSchema,
} from "../../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { ModelListener } from "../model.js";
import { filterNames, pack } from "./common.js";
import { buildServerRbacFilters } from "./rbac.js";
import { serverWorkloadTls } from "./workload-tls.js";

/**
 * The Listener of an xDS-enabled gRPC server (gRFC A36): its address is the one the server listens
 * on (gRPC refuses another), one filter chain matching every connection, the HTTP connection manager
 * with its route configuration inline (one route, `non_forwarding_action`: the server answers calls
 * itself), the destination's RBAC filters before the router (gRFC A41), and its workload TLS (A29).
 */
export function buildServerListener(listener: ModelListener): Listener {
  const server = listener.server;
  if (!server) throw new Error(`listener ${listener.name} is not a gRPC server's`);
  const hcm = pack(HttpConnectionManagerSchema, {
    statPrefix: listener.name,
    codecType: HttpConnectionManager_CodecType.AUTO,
    routeSpecifier: {
      case: "routeConfig",
      value: {
        name: `${server.destination}/server`,
        virtualHosts: [
          {
            name: server.destination,
            domains: ["*"],
            routes: [
              {
                match: { pathSpecifier: { case: "prefix", value: "" } },
                action: { case: "nonForwardingAction", value: {} },
              },
            ],
          },
        ],
      },
    },
    httpFilters: [
      ...(server.access ? buildServerRbacFilters(server.access) : []),
      { name: filterNames.router, configType: { case: "typedConfig", value: pack(RouterSchema, {}) } },
    ],
  });
  return create(ListenerSchema, {
    name: listener.name,
    address: {
      address: {
        case: "socketAddress",
        value: { address: listener.bindAddress, portSpecifier: { case: "portValue", value: listener.port } },
      },
    },
    filterChains: [
      {
        filters: [
          { name: "envoy.filters.network.http_connection_manager", configType: { case: "typedConfig", value: hcm } },
        ],
        ...(server.tls !== "DISABLE"
          ? {
              transportSocket: {
                name: "envoy.transport_sockets.tls",
                configType: { case: "typedConfig", value: serverWorkloadTls(server.tls) },
              },
            }
          : {}),
      },
    ],
  });
}
