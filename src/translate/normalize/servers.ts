// GRPC_SERVER gateways: the Listener each xDS-enabled gRPC server asks for by its listening address.
import { isIP } from "node:net";
import { kindKey, type ResourceOf, refName, resourceKey } from "../../resources/index.js";
import type { ModelAccess, ModelListener } from "../model.js";
import type { StatusCollector } from "../status.js";
import type { AccessByDestination } from "./access.js";
import type { ResolvedDestinations } from "./destinations.js";

/**
 * The name gRPC servers ask for their Listener by, with Gantry's bootstraps
 * (`server_listener_resource_name_template`, src/server/bootstrap-grpc.ts): gRFC A36.
 */
export function serverListenerName(address: string, port: number): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return `grpc/server?xds.resource.listening_address=${host}:${port}`;
}

/**
 * One listener per listening address of a GRPC_SERVER gateway, each serving its destination: the
 * TLS its servers require (the destination's workloadTls) and its AccessPolicies. Undefined when
 * the gateway is invalid (its status says why, field by field).
 */
export function serverListeners(
  gateway: ResourceOf<"Gateway">,
  served: { destinations: ResolvedDestinations; access: AccessByDestination },
  statuses: StatusCollector,
  origins: Set<string>,
): ModelListener[] | undefined {
  const key = resourceKey(gateway);
  const spec = gateway.spec;
  if (spec.listeners.length === 0) statuses.warn(key, "spec.listeners: empty; no gRPC server gets a Listener");
  if (spec.allowedRouteTables.length > 0)
    statuses.warn(key, "spec.allowedRouteTables: ignored for GRPC_SERVER gateways");
  const problems: string[] = [];
  const names = new Set<string>();
  const listeners: ModelListener[] = [];
  spec.listeners.forEach((listener, i) => {
    const at = `spec.listeners[${i}]`;
    const before = problems.length;
    if (listener.port < 1 || listener.port > 65535) problems.push(`${at}.port: must be 1..65535`);
    if (listener.bindAddress !== "" && isIP(listener.bindAddress) === 0) {
      problems.push(`${at}.bindAddress: "${listener.bindAddress}" is not an IP address`);
    }
    if (listener.tls) problems.push(`${at}.tls: a gRPC server's TLS is its destination's spec.workloadTls`);
    if (listener.httpsRedirect) problems.push(`${at}.httpsRedirect: not for GRPC_SERVER listeners`);
    if (listener.allowedRouteTables.length > 0)
      problems.push(`${at}.allowedRouteTables: not for GRPC_SERVER listeners`);
    const destinationName = listener.destination ? refName(listener.destination, gateway.metadata.namespace) : "";
    const destination = served.destinations.byName.get(destinationName);
    if (!listener.destination || listener.destination.name === "") problems.push(`${at}.destination: required`);
    else if (!destination) problems.push(`${at}.destination: Destination ${destinationName} not found or invalid`);
    const address = listener.bindAddress || "0.0.0.0";
    const name = serverListenerName(address, listener.port);
    if (names.has(name)) problems.push(`${at}: ${address}:${listener.port} is served by another listener`);
    names.add(name);
    if (problems.length > before || !destination) return;
    origins.add(kindKey("Destination", destinationName));
    const access = served.access.get(destinationName);
    for (const policy of access?.policies ?? []) origins.add(policy);
    if (access) warnGrpcUnsupported(access, statuses);
    listeners.push({
      name,
      port: listener.port,
      bindAddress: address,
      httpsRedirect: false,
      virtualHosts: [],
      server: { destination: destinationName, tls: destination.serverTls, ...(access ? { access } : {}) },
    });
  });
  for (const problem of problems) statuses.invalid(key, problem);
  return problems.length > 0 ? undefined : listeners;
}

/** What gRPC servers' RBAC (gRFC A41) cannot see, warned on the policy: every call's method is POST. */
function warnGrpcUnsupported(access: ModelAccess, statuses: StatusCollector): void {
  for (const rule of [...access.deny, ...(access.allow ?? [])]) {
    if (!rule.methods.some((m) => m !== "POST")) continue;
    const [namespace, policy, index] = rule.name.split("/");
    statuses.warn(
      kindKey("AccessPolicy", `${namespace}/${policy}`),
      `spec.${index}.to.methods: gRPC servers see every call as POST; only POST matches there`,
    );
  }
}
