/**
 * OpenAPI documents of API products: where one comes from and reading it, parsing and validating
 * it (@apidevtools/swagger-parser, loaded on first use), its operations and their coverage by
 * routes, and the server's checks that feed the translation (docs/portal.md). The folder's only door.
 */
export { type CheckedDocument, checkDocument, checkDocumentText, type DocumentCheck } from "./check.js";
export { OpenApiChecks, type OpenApiChecksOptions } from "./checks.js";
export {
  type CoveredRoute,
  coverageWarnings,
  type Operation,
  operationsOf,
  type RouteMatch,
  routeTableRoutes,
} from "./coverage.js";
export {
  defaultMaxDocumentBytes,
  describeSource,
  type ReadOptions,
  readSource,
  refreshMsOf,
  sourceKey,
} from "./source.js";
