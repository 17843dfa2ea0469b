export {
  apiVersion,
  defaultNamespace,
  isKind,
  type Kind,
  kinds,
  type Metadata,
  type Resource,
  type ResourceOf,
  resourceKey,
  type Source,
  type SpecOf,
  specSchemas,
} from "./kinds.js";
export {
  isResourceFile,
  type LoadResult,
  loadResources,
  parseResourceFiles,
  parseResources,
  type RejectedDocument,
  rejectDuplicates,
} from "./load.js";
export { matchesLabels, matchesSelector, refName } from "./selectors.js";
export { checkShape, type ShapeError } from "./shape.js";
