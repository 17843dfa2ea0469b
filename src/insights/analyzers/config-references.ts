// GTY0101: references to resources that do not exist. Read off the resources themselves (not the
// translation's messages), so each finding names the exact field.
import type { ObjectRef } from "../../gen/gantry/v1/common_pb.js";
import { type Resource, refKey, refOf, resourceKey } from "../../resources/index.js";
import type { Finding } from "../types.js";
import type { ConfigInput } from "./config-input.js";

interface Reference {
  field: string;
  kind: string;
  ref: ObjectRef;
}

/** Every reference by name a resource holds, with the field it is in. */
function referencesOf(resource: Resource): Reference[] {
  const out: Reference[] = [];
  const add = (field: string, kind: string, ref: ObjectRef | undefined) => {
    if (ref?.name) out.push({ field, kind, ref });
  };
  switch (resource.kind) {
    case "RouteTable":
      for (const [i, ref] of resource.spec.gateways.entries()) add(`spec.gateways[${i}]`, "Gateway", ref);
      resource.spec.http.forEach((route, i) => {
        const action = route.action;
        if (action.case === "forwardTo") {
          for (const [j, d] of action.value.destinations.entries()) {
            add(`spec.http[${i}].forwardTo.destinations[${j}].destination`, "Destination", d.destination);
          }
        } else if (action.case === "delegate") {
          for (const [j, s] of action.value.routeTables.entries()) {
            add(`spec.http[${i}].delegate.routeTables[${j}].ref`, "RouteTable", s.ref);
          }
        }
      });
      break;
    case "Gateway":
      resource.spec.listeners.forEach((listener, i) => {
        add(`spec.listeners[${i}].tls.secret`, "Secret", listener.tls?.secret);
        add(`spec.listeners[${i}].tls.clientCa`, "Secret", listener.tls?.clientCa);
      });
      break;
    case "Destination":
      add("spec.tls.ca", "Secret", resource.spec.tls?.ca);
      add("spec.tls.clientCertificate", "Secret", resource.spec.tls?.clientCertificate);
      break;
    case "ExtAuthPolicy":
      if (resource.spec.config.case === "authConfig") add("spec.authConfig", "AuthConfig", resource.spec.config.value);
      break;
    default:
      break;
  }
  return out;
}

export function danglingReferences(input: ConfigInput): Finding[] {
  const known = new Set(input.resources.map(resourceKey));
  const out: Finding[] = [];
  for (const resource of input.resources) {
    const self = refOf(resource);
    for (const { field, kind, ref } of referencesOf(resource)) {
      const target = { kind, namespace: ref.namespace || self.namespace, name: ref.name };
      const key = refKey(target);
      if (known.has(key)) continue;
      out.push({
        code: "GTY0101",
        targets: [self, target],
        subject: field,
        args: { field: `${resource.kind} ${self.namespace}/${self.name} ${field}`, target: key },
        evidence: { field, missing: key },
      });
    }
  }
  return out;
}
