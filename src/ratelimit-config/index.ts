// The RateLimitConfig format: the contract between the translator, which publishes one config per
// domain, and the rate-limit servers that read them (Gantry's and envoyproxy/ratelimit). What makes a
// config servable lives here, beside neither, so that both check it the same way and the pure
// translator need not depend on a server.
export { type ConfigProblem, configProblems } from "./check.js";
export { isKnownUnit, unitSeconds } from "./units.js";
