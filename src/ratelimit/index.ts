export { type ConfigProblem, configProblems } from "../ratelimit-config/index.js";
export type { CounterGroup, CounterStore, FixedWindowKeyFormat, HitOutcome } from "./algorithms.js";
export { RateLimitConfigError } from "./config-errors.js";
export { checkConfigs, loadConfigDir } from "./config-files.js";
export { parseRateLimitYaml } from "./config-yaml.js";
export { MemoryCounterStore } from "./memory-store.js";
export { RedisCounterStore } from "./redis-store.js";
export { type RateLimitServer, type RateLimitServerOptions, startRateLimitServer } from "./server.js";
export { defaultResponseHeaderNames, type RedisFailureMode, type ResponseHeaderNames } from "./service.js";
