export {
  type CliResult,
  type FedServicePorts,
  fedServicePorts,
  runGantry,
  type ServerPorts,
  serverPortFlags,
  serverPorts,
} from "./cli.js";
export { expectGolden, updatingGoldens } from "./golden.js";
export { haveKube, type KubeApiServer, type KubectlResult, startKubeApiServer } from "./kube.js";
export { freePort, freePortPair, freePorts, isListening, portForLater } from "./ports.js";
export { type ManagedProcess, type StartOptions, startProcess } from "./process.js";
export { haveRedis, type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "./redis.js";
export { findTool, inCI, localBin, needTool } from "./tools.js";
export { waitFor } from "./wait.js";
