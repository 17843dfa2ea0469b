export { checkClusterName, clusterNameRule, isClusterName } from "./cluster-name.js";
export {
  apiVersion,
  clusterLabel,
  clusterLabelOf,
  clustersOf,
  defaultNamespace,
  discoveredNameLabel,
  isKind,
  type Kind,
  kinds,
  type Metadata,
  placedKinds,
  placementOf,
  type Resource,
  type ResourceOf,
  type Source,
  type SpecOf,
  specSchemas,
} from "./kinds.js";
export {
  isResourceFile,
  type LoadResult,
  loadResources,
  parseDocument,
  parseResourceFiles,
  parseResources,
  type RejectedDocument,
  rejectDuplicates,
} from "./load.js";
export { kindKey, namespacedName, parseRefKey, type ResourceRef, refKey, refOf, resourceKey } from "./ref.js";
export {
  isRedactedValue,
  redactDocument,
  redactedValue,
  redactMessage,
  type SecretField,
  secretFieldOf,
  secretFields,
} from "./secrets.js";
export { matchesLabels, matchesSelector, refName } from "./selectors.js";
export { checkShape, type ShapeError } from "./shape.js";
