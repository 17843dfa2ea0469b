// The ext-auth servers' output: the AuthConfigs that routes name.
import { create } from "@bufbuild/protobuf";
import { type XdsResource as EnvoyResource, encodeResource } from "../../envoy/index.js";
import { AuthConfigSchema } from "../../gen/gantry/extauth/v1/auth_config_pb.js";
import { namespacedName, type Resource } from "../../resources/index.js";
import type { Model } from "../model.js";

/**
 * Each AuthConfig an ExtAuthPolicy names, keyed by its config id (`namespace/name`), which is what
 * a route's `context_extensions` carries. AuthConfigs no policy names are not served. In the order
 * of the resources: AuthConfigs are not in the model, they pass through as written.
 */
export function processAuthConfigs(resources: readonly Resource[], model: Model): EnvoyResource[] {
  const wanted = new Set(model.authConfigIds);
  const out: EnvoyResource[] = [];
  for (const resource of resources) {
    if (resource.kind !== "AuthConfig") continue;
    const id = namespacedName(resource.metadata);
    if (!wanted.has(id)) continue;
    out.push(encodeResource(AuthConfigSchema, create(AuthConfigSchema, { ...resource.spec, id }), id));
  }
  return out;
}
