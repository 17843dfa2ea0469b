import { createRegistry, type Registry } from "@bufbuild/protobuf";
import { file_envoy_config_cluster_v3_cluster } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { file_envoy_config_endpoint_v3_endpoint } from "../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { file_envoy_config_listener_v3_listener } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { file_envoy_config_route_v3_route } from "../gen/envoy/config/route/v3/route_pb.js";
import { file_envoy_extensions_filters_http_cors_v3_cors } from "../gen/envoy/extensions/filters/http/cors/v3/cors_pb.js";
import { file_envoy_extensions_filters_http_ext_authz_v3_ext_authz } from "../gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { file_envoy_extensions_filters_http_fault_v3_fault } from "../gen/envoy/extensions/filters/http/fault/v3/fault_pb.js";
import { file_envoy_extensions_filters_http_jwt_authn_v3_config } from "../gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js";
import { file_envoy_extensions_filters_http_local_ratelimit_v3_local_rate_limit } from "../gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.js";
import { file_envoy_extensions_filters_http_ratelimit_v3_rate_limit } from "../gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js";
import { file_envoy_extensions_filters_http_rbac_v3_rbac } from "../gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { file_envoy_extensions_filters_http_router_v3_router } from "../gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector } from "../gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy } from "../gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js";
import { file_envoy_extensions_transport_sockets_tls_v3_secret } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from "../gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";

/**
 * The Envoy types Gantry serves, and those that travel inside them as `Any` (HTTP filters,
 * transport sockets, protocol options), so that typed configs are decoded and checked too.
 */
export const envoyRegistry: Registry = createRegistry(
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_extensions_transport_sockets_tls_v3_secret,
  file_envoy_extensions_transport_sockets_tls_v3_tls,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy,
  file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_filters_http_cors_v3_cors,
  file_envoy_extensions_filters_http_fault_v3_fault,
  file_envoy_extensions_filters_http_ext_authz_v3_ext_authz,
  file_envoy_extensions_filters_http_ratelimit_v3_rate_limit,
  file_envoy_extensions_filters_http_jwt_authn_v3_config,
  file_envoy_extensions_filters_http_rbac_v3_rbac,
  file_envoy_extensions_filters_http_local_ratelimit_v3_local_rate_limit,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
);
