export { type AgentState, type AgentThresholds, analyzeAgents, defaultAgentThresholds } from "./analyzers/agents.js";
export {
  analyzeCertificates,
  type CertificateThresholds,
  defaultCertificateThresholds,
  type ServedCertificate,
  servedCertificates,
} from "./analyzers/certificates.js";
export { analyzeConfig, configAnalyzers } from "./analyzers/config.js";
export { type ConfigInput, configInputOf, translateForAnalysis } from "./analyzers/config-input.js";
export {
  analyzeDataPlane,
  type DataPlaneSample,
  type DataPlaneThresholds,
  defaultDataPlaneThresholds,
} from "./analyzers/data-plane.js";
export {
  analyzeProxies,
  type ConnectedProxy,
  type DepartedProxy,
  defaultProxyThresholds,
  type ProxyInput,
  type ProxyThresholds,
} from "./analyzers/proxies.js";
export {
  analyzeRedis,
  defaultRedisThresholds,
  parseRedisInfo,
  type RedisProbe,
  type RedisThresholds,
} from "./analyzers/redis.js";
export { InsightBook, type InsightFilter, insightId, isSilenced, matches } from "./book.js";
export { type CodeInfo, codeInfo, docsAnchor, insightCodes, summarize } from "./codes.js";
export { codesMarkdown, withCodes } from "./docs.js";
export {
  defaultRetention,
  type InsightHistory,
  MemoryInsightHistory,
  RedisInsightHistory,
  type Retention,
  type Silence,
} from "./history.js";
export { insightMetricName, registerInsightMetric } from "./metric.js";
export {
  CounterSource,
  type CounterValue,
  type MetricSource,
  PrometheusSource,
  parseExposition,
  promQuery,
  registrySource,
  scrapeSource,
} from "./metric-sources.js";
export { analyzeFiles } from "./offline.js";
export { ProxyTracker } from "./proxy-tracker.js";
export { InsightsRuntime, type InsightsRuntimeOptions } from "./runtime.js";
export { type Located, sarifSchemaUri, toSarif } from "./sarif.js";
export {
  type Category,
  categories,
  type Finding,
  type Insight,
  type Severity,
  severities,
  type Target,
  targetKey,
} from "./types.js";
