export { type Agent, type AgentOptions, startAgent } from "./agent.js";
export { directoryDiscovery, parseDiscoveryFiles } from "./discovery.js";
export { EnrollError, type EnrollOptions, enroll } from "./enroll.js";
export { discoverDestinations, serviceAccountLabel, type WorkloadClusterObjects } from "./kubernetes-destinations.js";
export { KubernetesDiscovery, type KubernetesDiscoveryOptions } from "./kubernetes-discovery.js";
export { type LastKnownGood, lastKnownGoodFile, loadLastKnownGood, saveLastKnownGood } from "./last-known-good.js";
export { RelayClient, type RelayClientOptions, relayBackoff } from "./relay-client.js";
