// What an apply warns about, per resource: the translator's own warnings, references to resources
// that do not exist, and routes no request can reach. Pure: read off the resources and a translation.
import { type Kind, kindKey, type Resource, refName, resourceKey } from "../../resources/index.js";
import {
  type ModelRoute,
  routeTablesOf,
  State,
  type Status,
  shadowedRoutes,
  type Translation,
} from "../../translate/index.js";

/** True when the translator does not serve the resource as written. */
export function isRejected(status: Status | undefined): boolean {
  return status !== undefined && (status.state === State.INVALID || status.state === State.FAILED);
}

/** A reference a resource makes, by field path, to `Kind/namespace/name`. */
interface Reference {
  field: string;
  kind: Kind;
  name: string;
}

/** Every reference by name a resource makes (selectors by label are not references). */
function referencesOf(resource: Resource): Reference[] {
  const ns = resource.metadata.namespace;
  const to = (field: string, kind: Kind, ref: { name: string; namespace: string } | undefined) =>
    ref && ref.name !== "" ? [{ field, kind, name: refName(ref, ns) }] : [];
  switch (resource.kind) {
    case "RouteTable":
      return [
        ...resource.spec.gateways.flatMap((g, i) => to(`spec.gateways[${i}]`, "Gateway", g)),
        ...resource.spec.http.flatMap((http, i) => {
          const action = http.action;
          if (action.case === "forwardTo") {
            return action.value.destinations.flatMap((d, j) =>
              to(`spec.http[${i}].forwardTo.destinations[${j}].destination`, "Destination", d.destination),
            );
          }
          if (action.case === "delegate") {
            return action.value.routeTables.flatMap((s, j) =>
              to(`spec.http[${i}].delegate.routeTables[${j}].ref`, "RouteTable", s.ref),
            );
          }
          return [];
        }),
      ];
    case "Destination":
      return [
        ...to("spec.tls.ca", "Secret", resource.spec.tls?.ca),
        ...to("spec.tls.clientCertificate", "Secret", resource.spec.tls?.clientCertificate),
      ];
    case "Gateway":
      return resource.spec.listeners.flatMap((l, i) => [
        ...to(`spec.listeners[${i}].tls.secret`, "Secret", l.tls?.secret),
        ...to(`spec.listeners[${i}].tls.clientCa`, "Secret", l.tls?.clientCa),
        ...to(`spec.listeners[${i}].destination`, "Destination", l.destination),
      ]);
    case "ExtAuthPolicy":
      return resource.spec.config.case === "authConfig"
        ? to("spec.authConfig", "AuthConfig", resource.spec.config.value)
        : [];
    default:
      return [];
  }
}

/**
 * Per resource key (`Kind/namespace/name`), its warnings, for the resources of `state` (the whole
 * desired state that `translation` was made from):
 * - an accepted resource's status messages (the translator's warnings: a policy that selects no
 *   routes, a route to a missing destination that answers 500, ...); a rejected one's are its
 *   reasons, not warnings;
 * - each reference by name to a resource that is not in `state`, unless the status already names
 *   it (the translator reports the references it follows, not those of route tables no gateway uses);
 * - each route shadowed by an earlier route of its virtual host, on the route table defining it,
 *   and on the one defining the earlier route when that is another.
 */
export function applyWarnings(state: readonly Resource[], translation: Translation): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (key: string, message: string) => {
    const list = out.get(key) ?? [];
    if (!list.includes(message)) list.push(message);
    out.set(key, list);
  };
  for (const [key, status] of translation.statuses) {
    if (status.state === State.WARNING) for (const message of status.messages) add(key, message);
  }

  const present = new Set(state.map(resourceKey));
  for (const resource of state) {
    const key = resourceKey(resource);
    const said = translation.statuses.get(key)?.messages ?? [];
    for (const ref of referencesOf(resource)) {
      if (present.has(kindKey(ref.kind, ref.name))) continue;
      const target = `${ref.kind} ${ref.name}`;
      if (said.some((m) => m.includes(target))) continue;
      add(key, `${ref.field}: ${target} does not exist`);
    }
  }

  const analysed = new Set<string>();
  for (const group of translation.groups) {
    for (const listener of group.listeners) {
      for (const vhost of listener.virtualHosts) {
        if (analysed.has(vhost.name)) continue;
        analysed.add(vhost.name);
        for (const { route, by } of shadowedRoutes(vhost.routes)) {
          const owner = definingTable(route);
          const other = definingTable(by);
          if (isRejected(translation.statuses.get(owner))) continue;
          add(
            owner,
            `route ${route.name} is never reached: route ${by.name} comes before it and matches every request it matches`,
          );
          if (other !== owner)
            add(
              other,
              `route ${by.name} matches every request of route ${route.name} (in ${owner}), which comes after it and is never reached`,
            );
        }
      }
    }
  }
  return out;
}

/** The route table (`RouteTable/namespace/name`) that defines a route: the last of its delegation path. */
function definingTable(route: ModelRoute): string {
  const tables = routeTablesOf(route);
  return tables[tables.length - 1] ?? route.name;
}
