// The Envoy-resource core: type URLs, encoding and the one validator. Depends only on src/gen and
// src/lib; translate and xds both build on it.
export { duplicateDomains } from "./domains.js";
export { envoyRegistry } from "./registry.js";
export {
  encodeResource,
  ResourceError,
  rawResource,
  resourceNameOf,
  sortResources,
  versionOf,
  type XdsResource,
} from "./resource.js";
export { inPushOrder, isFullStateType, TypeUrl, typeUrlOf } from "./type-urls.js";
export { type Violation, validateMessage } from "./validate.js";
