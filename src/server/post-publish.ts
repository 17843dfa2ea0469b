// What follows a publish once its pushes are written, none of it needed by the proxies: statuses to
// Kubernetes, metrics, insights, the resources' history and the log line.
import { configInputOf, type InsightsRuntime } from "../insights/index.js";
import type { KubeSource } from "../kube/index.js";
import type { Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { parseRefKey } from "../resources/index.js";
import { State } from "../translate/index.js";
import type { ResourceHistory } from "./history.js";
import type { Published, PublishMetrics } from "./publish-loop.js";

export interface PostPublishDeps {
  /** The custom resources' source, once it is made (it starts after the loop). */
  kube(): KubeSource | undefined;
  metrics: PublishMetrics;
  insights: InsightsRuntime;
  history: ResourceHistory;
  clock: Timers;
  logger: Logger;
}

export function afterPublish(
  deps: PostPublishDeps,
  { snapshot, resources, translation, statuses, publishedMs }: Published,
) {
  const { metrics, logger } = deps;
  deps.kube()?.published();
  metrics.revision.set(snapshot.revision);
  metrics.statuses.reset();
  for (const [key, status] of statuses) {
    metrics.statuses.inc({ kind: parseRefKey(key).kind, state: State[status.state] ?? "UNKNOWN" });
  }
  metrics.translations.inc({ result: "ok" });
  deps.insights.onTranslation(configInputOf(resources, translation));
  deps.history.record(snapshot, deps.clock.now());
  logger.info(
    {
      revision: snapshot.revision,
      gateways: translation.groups.length,
      ms: Math.round(publishedMs),
    },
    "published",
  );
}
