// Listeners: one per gateway port for Envoy; for proxyless gRPC, an API listener per host.

import { kindKey } from "../../resources/index.js";
import type { ModelListener } from "../model.js";
import { clientOf, type GroupContext } from "./group.js";
import { grpcHosts, grpcRouteConfigName } from "./routes.js";

/** A listener's Envoy listener, or its gRPC API listeners, with the filters its routes need. */
export function processListener(group: GroupContext, listener: ModelListener): void {
  const { gateway, compute } = group;
  const routeConfigName = `${gateway.name}/${listener.name}`;
  const needs = compute.needs(listener, clientOf(gateway));
  const origin = kindKey("Gateway", gateway.name);
  if (gateway.kind === "grpc") {
    // A gRPC client asks for the listener of the host it dials, and each host has its own route
    // configuration: a client that NACKs one target's routes holds up no other target.
    for (const host of grpcHosts(listener)) {
      group.add(compute.apiListener(host, grpcRouteConfigName(routeConfigName, host), needs), origin, "Listener", host);
    }
    return;
  }
  const name = `${gateway.name}/${listener.name}`;
  if (listener.eastWest) {
    // Envoy refuses a listener without filter chains: with nothing to pass through, there is none.
    if (listener.eastWest.passthrough.length === 0) return;
    for (const { cluster } of listener.eastWest.passthrough) group.clusters.add(cluster);
    group.add(compute.eastWestListener(name, listener, listener.eastWest), origin, "Listener", name);
    return;
  }
  const inputs = { address: listener.bindAddress, port: listener.port, routeConfigName, tls: listener.tls, needs };
  group.add(compute.listener(name, inputs), origin, "Listener", name);
}

/** A gRPC server's Listener, blamed on the gateway (and on its destination's AccessPolicies). */
export function processServerListener(group: GroupContext, listener: ModelListener): void {
  const built = group.compute.serverListener(listener);
  group.add(built, kindKey("Gateway", group.gateway.name), "Listener", listener.name);
  const policies = listener.server?.access?.policies ?? [];
  if (built.value.violations.length > 0 && policies.length > 0) {
    group.blame(policies, built.value.violations, `Listener ${listener.name}`);
  }
}
