export {
  applyDiscovery,
  type DiscoveredDocument,
  type DiscoveredSet,
  DiscoveryError,
  discoveredDocument,
  discoveredKinds,
  discoveredNameLabel,
  discoveryHash,
  discoveryMessage,
  isDiscoveredBy,
  planDiscoveryWrite,
  storedDocument,
} from "./discovery.js";
export { type ClusterView, RelayHub, type RelayHubOptions, type RelaySession } from "./hub.js";
export {
  applyOutputMessage,
  type ClusterOutput,
  clusterOutput,
  entryVersions,
  type GroupMeta,
  type OutputEntry,
  OutputError,
  outputMessage,
  outputVersion,
  placedIn,
  publicationOf,
} from "./output.js";
export {
  defaultRelayPort,
  type PeerCluster,
  type RelayPeer,
  type RelayServer,
  type RelayServerOptions,
  startRelayServer,
} from "./service.js";
