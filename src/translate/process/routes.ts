import { duplicateDomains } from "../../envoy/index.js";
import { kindKey } from "../../resources/index.js";
// Route configurations: one per listener, a virtual host per route table.
import type { ModelListener } from "../model.js";
import type { GroupContext } from "./group.js";

/**
 * A listener's route configuration. Routes are checked one by one, each blamed on the resources
 * it came from; each virtual host without its routes, and the domains across virtual hosts, are
 * blamed on the route table.
 */
export function processRouteConfiguration(group: GroupContext, listener: ModelListener): void {
  const { gateway, compute } = group;
  const name = `${gateway.name}/${listener.name}`;
  const { extAuth } = compute.needs(listener, gateway.kind);
  const hosts = listener.virtualHosts.map((vhost) => {
    const built = compute.host(vhost.routes, gateway.kind, extAuth);
    for (const problem of built.problems) group.blame(problem.origins, problem.violations, problem.what);
    for (const cluster of built.clusters) group.clusters.add(cluster);
    const shell = compute.virtualHostProblems(vhost, listener.httpsRedirect);
    if (shell.length > 0) group.blame([kindKey("RouteTable", vhost.name)], shell, `virtual host ${vhost.name}`);
    return { vhost, built };
  });
  for (const d of duplicateDomains(listener.virtualHosts)) {
    group.blame([kindKey("RouteTable", d.vhost)], [{ path: "domains", message: d.message }], name);
  }
  group.add(
    compute.routeConfiguration(name, hosts, listener.httpsRedirect),
    kindKey("Gateway", gateway.name),
    "RouteConfiguration",
    name,
  );
}
