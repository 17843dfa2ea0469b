import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { directoryDiscovery, enroll, KubernetesDiscovery, startAgent } from "../../agent/index.js";
import { AgentCredentials, checkClusterName, relayChannelOptions } from "../../cluster/index.js";
import type { ConfigProvider } from "../../config/index.js";
import { type KubeApi, KubeClient, loadKubeConfig, TokenReviewAttestor } from "../../kubernetes/index.js";
import { createLogger, createRegistry, type Logger, type LogLevel, startTelemetryServer } from "../../lib/index.js";
import type { DiscoveredSet } from "../../server/relay/index.js";
import {
  AttestorChain,
  ClusterCa,
  GantryTokenAttestor,
  loadTokenKey,
  readKeyEncryptionKey,
  type WorkloadAttestor,
  WorkloadCertFiles,
  WorkloadIssuer,
} from "../../trust/index.js";
import { hostOption, logLevelOption, parseHostPort, parsePositiveInt, portOption } from "../options.js";
import { stopOnSignal } from "../signals.js";

interface AgentFlags {
  cluster: string;
  relay: string[];
  dataDir: string;
  tokenFile?: string;
  discoveryDir?: string;
  kubeconfig?: string;
  kubeInCluster?: boolean;
  clusterDomain: string;
  host: string;
  xdsPort: number;
  metricsPort: number;
  logLevel: LogLevel;
  keyEncryptionKeyFile?: string;
  attestor: string[];
  tokenAudience: string[];
  workloadCertTtlSeconds: number;
  workloadTokensDir?: string;
  workloadCertsDir?: string;
  trustBundleRefreshSeconds: number;
}

interface AttestorContext {
  dataDir: string;
  cluster: string;
  kek: Kek;
  /** The workload cluster's API (`--kubeconfig` or `--kube-in-cluster`), when one is named. */
  kube: KubeApi | undefined;
  audiences: readonly string[];
}

/** The workload attestors an agent can be given (`--attestor`), by kind. */
const attestorKinds: Record<string, (context: AttestorContext) => WorkloadAttestor> = {
  "gantry-token": ({ dataDir, cluster, kek }) =>
    new GantryTokenAttestor({ key: loadTokenKey(dataDir, kek, keyEncryptionKeyFlag), cluster }),
  // A projected service-account token, checked by the workload cluster's own TokenReview API.
  "kubernetes-token-review": ({ kube, audiences, cluster }) =>
    new TokenReviewAttestor({ api: kubeFor("kubernetes-token-review", kube), audiences, cluster }),
};

/** The workload cluster's API an attestor kind needs; checked before the agent registers. */
function kubeFor(kind: string, kube: KubeApi | undefined): KubeApi {
  if (!kube)
    throw new Error(`--attestor ${kind}: needs the workload cluster's API (--kubeconfig or --kube-in-cluster)`);
  return kube;
}

/** `--token-audience a,b`: the audiences a service-account token must be meant for. */
function parseAudiences(value: string): string[] {
  const audiences = value
    .split(",")
    .map((a) => a.trim())
    .filter(Boolean);
  if (audiences.length === 0) throw new InvalidArgumentError("give at least one audience");
  return audiences;
}

type Kek = ReturnType<typeof readKeyEncryptionKey>;
export const keyEncryptionKeyFlag = "--key-encryption-key-file";

/** `--attestor a,b`: attestor kinds, in the order they are tried. */
function parseAttestors(value: string): string[] {
  const kinds = value.split(",").map((k) => k.trim());
  for (const kind of kinds) {
    if (!(kind in attestorKinds)) {
      throw new InvalidArgumentError(`unknown attestor "${kind}" (known: ${Object.keys(attestorKinds).join(", ")})`);
    }
  }
  return kinds;
}

/** `--relay a:1,b:2`: each replica's relay address, checked as host:port. */
function parseRelayAddresses(value: string): string[] {
  return value.split(",").map((part) => {
    const { host, port } = parseHostPort(part.trim());
    return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  });
}

/** The workload cluster's API, when `--kubeconfig` or `--kube-in-cluster` names it (discovery and TokenReview share it). */
async function kubeApiOf(flags: AgentFlags): Promise<KubeApi | undefined> {
  const sources = [
    flags.discoveryDir !== undefined && "--discovery-dir",
    flags.kubeconfig !== undefined && "--kubeconfig",
    flags.kubeInCluster && "--kube-in-cluster",
  ].filter(Boolean);
  if (sources.length > 1) throw new Error(`${sources.join(" and ")}: give one discovery source`);
  if (flags.kubeconfig === undefined && !flags.kubeInCluster) return undefined;
  const config = await loadKubeConfig(
    flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : { inCluster: true },
  );
  return new KubeClient(config);
}

/** Where the cluster's Destinations come from: a folder, the Kubernetes API, or nowhere. */
function discoveryOf(
  flags: AgentFlags,
  kube: KubeApi | undefined,
  logger: Logger,
): ConfigProvider<DiscoveredSet> | undefined {
  if (flags.discoveryDir !== undefined) return directoryDiscovery(flags.discoveryDir);
  if (!kube) return undefined;
  return new KubernetesDiscovery({ api: kube, logger, clusterDomain: flags.clusterDomain });
}

function agentVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("run a workload cluster's agent: relay to the management server, local xDS, last-known-good")
    .addOption(
      new Option("--cluster <name>", "this cluster's name (a DNS label)").env("GANTRY_CLUSTER").makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--relay <host:port[,host:port...]>",
        "the management server replicas' relay address(es), tried in turn",
      )
        .env("GANTRY_RELAY")
        .argParser(parseRelayAddresses)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option("--data-dir <dir>", "where the last-known-good output is kept (created if missing)")
        .env("GANTRY_DATA_DIR")
        .makeOptionMandatory(),
    )
    .addOption(
      new Option(
        "--token-file <path>",
        "the registration token `gantry cluster add NAME` printed; needed until the agent holds its certificate (in --data-dir)",
      ).env("GANTRY_TOKEN_FILE"),
    )
    .addOption(
      new Option("--discovery-dir <dir>", "a folder of this cluster's Destinations, sent up to the server").env(
        "GANTRY_DISCOVERY_DIR",
      ),
    )
    .addOption(
      new Option(
        "--kubeconfig <file>",
        "discover this cluster's Services, EndpointSlices, Pods and Destination resources with this kubeconfig",
      ).env("GANTRY_KUBECONFIG"),
    )
    .addOption(
      new Option(
        "--kube-in-cluster",
        "discover from the Kubernetes API of the cluster the agent runs in (its service account)",
      ).env("GANTRY_KUBE_IN_CLUSTER"),
    )
    .addOption(
      new Option("--cluster-domain <domain>", "the Kubernetes cluster's DNS domain, for discovered Destinations' hosts")
        .env("GANTRY_CLUSTER_DOMAIN")
        .default("cluster.local"),
    )
    .addOption(hostOption())
    .addOption(
      portOption("--xds-port", "GANTRY_XDS_PORT", "port this cluster's proxies and services connect to for xDS", 18000),
    )
    .addOption(portOption("--metrics-port", "GANTRY_METRICS_PORT", "port for /metrics, /healthz and /readyz", 9094))
    .addOption(logLevelOption())
    .addOption(
      new Option(
        "--key-encryption-key-file <path>",
        "a 32-byte key (hex or base64) sealing the intermediate CA and token keys in --data-dir (or GANTRY_KEY_ENCRYPTION_KEY); without it they are kept in the clear, mode 0600",
      ).env("GANTRY_KEY_ENCRYPTION_KEY_FILE"),
    )
    .addOption(
      new Option(
        "--attestor <kinds>",
        "how workloads prove who they are, tried in order (comma-separated): gantry-token, kubernetes-token-review",
      )
        .env("GANTRY_ATTESTOR")
        .default(["gantry-token"], "gantry-token")
        .argParser(parseAttestors),
    )
    .addOption(
      new Option(
        "--token-audience <audiences>",
        "kubernetes-token-review: the audiences a service-account token must be meant for (comma-separated)",
      )
        .env("GANTRY_TOKEN_AUDIENCE")
        .default(["gantry"], "gantry")
        .argParser(parseAudiences),
    )
    .addOption(
      new Option("--workload-cert-ttl-seconds <n>", "lifetime of workload certificates; rotated at two thirds")
        .env("GANTRY_WORKLOAD_CERT_TTL_SECONDS")
        .default(86_400)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        "--workload-tokens-dir <dir>",
        "proxyless gRPC: a folder of *.token files (a workload token each); each proven workload gets files in --workload-certs-dir",
      ).env("GANTRY_WORKLOAD_TOKENS_DIR"),
    )
    .addOption(
      new Option(
        "--workload-certs-dir <dir>",
        "proxyless gRPC: where cert-chain.pem, key.pem and root-cert.pem are kept, under <namespace>/<service-account>/",
      ).env("GANTRY_WORKLOAD_CERTS_DIR"),
    )
    .addOption(
      new Option("--trust-bundle-refresh-seconds <n>", "how often the agent asks the server for the trust bundle")
        .env("GANTRY_TRUST_BUNDLE_REFRESH_SECONDS")
        .default(60)
        .argParser(parsePositiveInt),
    )
    .action(async (flags: AgentFlags) => {
      checkClusterName(flags.cluster, "--cluster");
      if ((flags.workloadTokensDir === undefined) !== (flags.workloadCertsDir === undefined)) {
        throw new Error("--workload-tokens-dir and --workload-certs-dir go together: give both or neither");
      }
      const kek = readKeyEncryptionKey(flags.keyEncryptionKeyFile, keyEncryptionKeyFlag, "GANTRY_KEY_ENCRYPTION_KEY");
      const logger = createLogger({ service: "agent", level: flags.logLevel });
      const registry = createRegistry("agent");
      const kube = await kubeApiOf(flags);
      if (flags.attestor.includes("kubernetes-token-review")) kubeFor("kubernetes-token-review", kube);
      const discovery = discoveryOf(flags, kube, logger);
      // The cluster certificate from an earlier registration, or a registration now with the token.
      let credentials = AgentCredentials.load(flags.dataDir, flags.cluster);
      if (!credentials) {
        if (flags.tokenFile === undefined) {
          throw new Error(
            `--token-file: there is no cluster certificate in --data-dir ${flags.dataDir} yet; give the token \`gantry cluster add ${flags.cluster}\` printed`,
          );
        }
        credentials = await enroll({
          relay: flags.relay[0] as string,
          tokenFile: flags.tokenFile,
          dataDir: flags.dataDir,
          cluster: flags.cluster,
          agentVersion: agentVersion(),
          metrics: registry,
        });
        logger.info({ cluster: flags.cluster }, "agent: registered; its certificate is in the data dir");
      }
      const stopRotation = credentials.keepRotated({ relay: flags.relay[0] as string, logger });
      const attestors = flags.attestor.map((kind) =>
        (attestorKinds[kind] as (typeof attestorKinds)[string])({
          dataDir: flags.dataDir,
          cluster: flags.cluster,
          kek,
          kube,
          audiences: flags.tokenAudience,
        }),
      );
      const clusterCa = new ClusterCa({
        dataDir: flags.dataDir,
        cluster: flags.cluster,
        relay: flags.relay,
        credentials,
        keyEncryptionKey: kek,
        keyEncryptionKeyFlag,
        logger,
        bundleRefreshMs: flags.trustBundleRefreshSeconds * 1000,
      });
      await clusterCa.start();
      const issuer = new WorkloadIssuer({
        ca: clusterCa,
        attestor: attestors.length === 1 ? (attestors[0] as WorkloadAttestor) : new AttestorChain(attestors),
        ttlMs: flags.workloadCertTtlSeconds * 1000,
        logger,
        metrics: registry,
      });
      const certFiles =
        flags.workloadTokensDir && flags.workloadCertsDir
          ? new WorkloadCertFiles({
              issuer,
              tokensDir: flags.workloadTokensDir,
              certsDir: flags.workloadCertsDir,
              logger,
            })
          : undefined;
      await certFiles?.start();
      const agent = await startAgent({
        credentials: credentials.channelCredentials(),
        channelOptions: relayChannelOptions,
        cluster: flags.cluster,
        relay: flags.relay,
        dataDir: flags.dataDir,
        ...(discovery ? { discovery } : {}),
        host: flags.host,
        xdsPort: flags.xdsPort,
        agentVersion: agentVersion(),
        logger,
        registry,
        workloadIssuer: issuer,
      });
      const telemetry = await startTelemetryServer({
        registry,
        host: flags.host,
        port: flags.metricsPort,
        logger,
        readiness: () => agent.readiness(),
      });
      logger.info({ xds: agent.xdsPort, metrics: telemetry.port, cluster: flags.cluster }, "gantry agent started");
      await stopOnSignal(async () => {
        logger.info("stopping");
        stopRotation();
        certFiles?.stop();
        issuer.close();
        clusterCa.stop();
        await agent.stop();
        await telemetry.close();
      });
    });
}
