/**
 * The developer portal (`gantry portal`): the catalogue of API products read off the desired state,
 * usage plans, developers' apps and their API keys in the ext-auth Redis, usage from the rate-limit
 * server, and the pages. This is the subsystem's only door (docs/portal.md).
 */
export { apiDocument } from "./api-document.js";
export { type App, AppStore } from "./apps.js";
export { buildCatalogue, type Catalogue, canSee, type ResourceStatusView, visibleProducts } from "./catalogue.js";
export { type Developer, defaultIdentityHeaders, parseGroups } from "./identity.js";
export { OpenApiDocuments } from "./openapi.js";
export { type Portal, type PortalOptions, type PortalState, startPortal } from "./server.js";
export { parseKeyCounters, UsageRecorder } from "./usage.js";
