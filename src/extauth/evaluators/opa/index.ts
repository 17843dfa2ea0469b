export { decisionToVerdict } from "./decision.js";
export { createOpaAuthFactory, defaultEntrypoint, normalizeEntrypoint, type OpaAuthOptions } from "./evaluator.js";
export { buildPolicyInput, policyInputJson } from "./input.js";
