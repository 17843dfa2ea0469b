// What the agent discovers in its cluster, as a config provider: today a folder of the cluster's
// Destinations (their endpoints are the cluster's workloads). A Kubernetes provider will be another
// ConfigProvider<DiscoveredSet>; the agent reads nothing else of its source.
import { type ConfigProvider, directoryProvider, type FileText } from "../config/index.js";
import type { Timers } from "../lib/clock.js";
import { isResourceFile, parseResourceFiles, resourceKey } from "../resources/index.js";
import { resourceToDocument } from "../server/index.js";
import {
  type DiscoveredDocument,
  type DiscoveredSet,
  discoveredDocument,
  discoveredKinds,
} from "../server/relay/index.js";

/** Parses a folder's files into the set the agent sends up; every bad document fails the reading, named. */
export function parseDiscoveryFiles(files: readonly FileText[]): DiscoveredSet {
  const { resources, rejected } = parseResourceFiles(files);
  const problems = rejected.flatMap((r) => r.errors.map((e) => `${r.file}:${r.line}: ${e}`));
  const set = new Map<string, DiscoveredDocument>();
  for (const resource of resources) {
    const key = resourceKey(resource);
    const where = resource.source ? `${resource.source.file}:${resource.source.line}` : key;
    if (!discoveredKinds.includes(resource.kind)) {
      problems.push(`${where}: ${key}: an agent discovers only ${discoveredKinds.join(", ")}`);
      continue;
    }
    if (set.has(key)) problems.push(`${where}: ${key} is defined twice`);
    set.set(key, discoveredDocument(key, resourceToDocument(resource)));
  }
  if (problems.length > 0) throw new Error(problems.join("; "));
  return set;
}

/** A folder of the cluster's resources (recursive, YAML or JSON), read again once writes are quiet. */
export function directoryDiscovery(dir: string, timers?: Timers): ConfigProvider<DiscoveredSet> {
  return directoryProvider<DiscoveredSet>({
    dir,
    recursive: true,
    accept: isResourceFile,
    parse: parseDiscoveryFiles,
    quietMs: 100,
    maxDelayMs: 1_000,
    // A bad file at start is reported and fixed later: the agent still serves its last-known-good output.
    startWithoutConfig: true,
    ...(timers ? { timers } : {}),
  });
}
