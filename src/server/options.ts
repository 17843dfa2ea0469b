// What `startManagementServer` takes (every flag of `gantry server` ends up here) and what it gives back.
import type { FileLimits } from "../config/index.js";
import type { XdsResource } from "../envoy/index.js";
import type { InsightsRuntime, InsightsRuntimeOptions, PrometheusSource } from "../insights/index.js";
import type { Leadership } from "../kube/index.js";
import type { KubeApi } from "../kubernetes/index.js";
import type { Timers } from "../lib/clock.js";
import type { TracingOptions } from "../lib/index.js";
import type { Logger } from "../lib/logger.js";
import type { Registry } from "../lib/metrics.js";
import type { TlsFiles } from "../lib/tls.js";
import type { ResourceKey, ResourceStore } from "../store/index.js";
import type { Status, TranslateOptions } from "../translate/index.js";
import type { XdsHooks, XdsLimits } from "../xds/index.js";
import type { ApiLimits, ProxyStatusView, TokenEntry } from "./api/index.js";
import type { GraphRatesSource } from "./graph-rates.js";
import type { ClusterView } from "./relay/index.js";
import type { RelayPortOptions } from "./relay-port.js";
import type { UiOptions } from "./ui/index.js";

export interface ManagementServerOptions {
  store: ResourceStore;
  host: string;
  xdsPort: number;
  apiPort: number;
  /** The API bearer token; undefined only with `insecureApi`. */
  apiToken: string | undefined;
  insecureApi?: boolean;
  /** The second token, which may ask the API to show secret material; without it, nobody may. */
  apiSecretsToken?: string;
  /** More API tokens, each with a role (`--api-tokens-file`). */
  apiTokens?: readonly TokenEntry[];
  /** The dashboard under /ui on the API port, and its OIDC sign-in ([ui](../../docs/ui.md)). */
  ui?: UiOptions;
  /**
   * Where the API's `DataPlaneRates` reads ext-auth and rate-limit decisions: a Prometheus
   * (stateless queries; a registry source is not, its reads are the insights').
   */
  dataPlaneRates?: PrometheusSource;
  /** Where the API's `GraphRates` reads the graph's edge rates (the same Prometheus, other queries). */
  graphRates?: GraphRatesSource;
  /** Body size, timeouts, connections and failed-authentication budget of the API port. */
  apiLimits?: Partial<ApiLimits>;
  configDir?: string;
  /** Bounds on each file of `configDir`. Default defaultFileLimits (8 MiB, 10,000 documents). */
  configLimits?: FileLimits;
  /** Where Envoy reaches the ext-auth and rate-limit services (served to proxies as clusters). */
  translate?: TranslateOptions;
  /** ApiProducts' OpenAPI documents, checked for their status: where `file` sources are read (default the working directory). */
  openApi?: { baseDir?: string; fileRefreshMs?: number };
  logger: Logger;
  registry: Registry;
  /** Time for the snapshot cache, proxy status and the debouncers. Default the system clock. */
  clock?: Timers;
  /**
   * Translation debounce: a change after 100 ms of calm is translated at once; the changes that follow it are
   * collapsed until ≈100 ms quiet, ≤ 1 s after the first (as the design says).
   */
  debounce?: { quietMs: number; maxDelayMs: number };
  /** This replica's name in proxy status; defaults to the host name. */
  serverName?: string;
  /** Serve xDS over TLS; with a client CA, proxies must present certificates it signed (mTLS). */
  xdsTls?: TlsFiles;
  /** Serve the management API over HTTPS. */
  apiTls?: TlsFiles;
  /** Bounds on the xDS port across all client connections. */
  xdsLimits?: XdsLimits;
  /** More xDS stream hooks, called after the server's own (an observer's: bench/xds-propagation traces with them). */
  xdsHooks?: XdsHooks;
  /** Serve agents (`gantry agent`) on a relay port: their clusters' discovery in, their translated output out. */
  relay?: RelayPortOptions;
  /** Gantry's custom resources in a Kubernetes cluster, a source beside the config folder ([kubernetes](../../docs/kubernetes.md)). */
  kubernetes?: {
    api: KubeApi;
    /** Watch one namespace; default all. */
    namespace?: string;
    /** Which replica writes statuses (the Lease holder); default this one, always. */
    leadership?: Leadership;
  };
  /** Export a span per translation and publication over OTLP ([observability](../../docs/observability.md)). */
  tracing?: TracingOptions;
  /** Insights: where history and silences live (default in memory), Redis to probe, data-plane metrics. */
  insights?: Partial<Pick<InsightsRuntimeOptions, "history" | "redis" | "metrics" | "intervalMs" | "proxyThresholds">>;
  /**
   * Tests only: no flag or variable of `gantry server` reaches it (test/server/test-seam.test.ts holds
   * every other file of src/ to that). Called once with a function that sends the node `nodeId`
   * resources over what translation gives it, name for name, unvalidated (`undefined` takes them back).
   * The interop matrix sends clients a resource they must NACK this way: Gantry's validator lets none out.
   */
  unvalidatedResourcesForTests?: (
    send: (nodeId: string, resources: readonly XdsResource[] | undefined) => void,
  ) => void;
}

export interface ManagementServer {
  readonly xdsPort: number;
  readonly apiPort: number;
  /** The relay port, when agents are served. */
  readonly relayPort: number | undefined;
  /** The clusters whose agents are or were connected to this replica. */
  clusters(): ClusterView[];
  /** Translates now if a change is pending, and waits until published. */
  settle(): Promise<void>;
  /** The revision of the store last translated and published. */
  readonly publishedRevision: number;
  status(key: ResourceKey): Status | undefined;
  proxies(): ProxyStatusView[];
  /** True once a first translation has been published. */
  readonly ready: boolean;
  readonly insights: InsightsRuntime;
  stop(): Promise<void>;
}
