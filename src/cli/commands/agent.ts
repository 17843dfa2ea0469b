import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { directoryDiscovery, enroll, KubernetesDiscovery, startAgent } from "../../agent/index.js";
import { AgentCredentials, relayChannelOptions } from "../../cluster/index.js";
import type { ConfigProvider } from "../../config/index.js";
import { KubeClient, loadKubeConfig } from "../../kubernetes/index.js";
import { createLogger, createRegistry, type Logger, type LogLevel, startTelemetryServer } from "../../lib/index.js";
import { checkClusterName, type DiscoveredSet } from "../../server/relay/index.js";
import { hostOption, logLevelOption, parseHostPort, portOption } from "../options.js";
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
}

/** `--relay a:1,b:2`: each replica's relay address, checked as host:port. */
function parseRelayAddresses(value: string): string[] {
  return value.split(",").map((part) => {
    const { host, port } = parseHostPort(part.trim());
    return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  });
}

/** Where the cluster's Destinations come from: a folder, the Kubernetes API, or nowhere. */
async function discoveryOf(flags: AgentFlags, logger: Logger): Promise<ConfigProvider<DiscoveredSet> | undefined> {
  const sources = [
    flags.discoveryDir !== undefined && "--discovery-dir",
    flags.kubeconfig !== undefined && "--kubeconfig",
    flags.kubeInCluster && "--kube-in-cluster",
  ].filter(Boolean);
  if (sources.length > 1) throw new Error(`${sources.join(" and ")}: give one discovery source`);
  if (flags.discoveryDir !== undefined) return directoryDiscovery(flags.discoveryDir);
  if (flags.kubeconfig === undefined && !flags.kubeInCluster) return undefined;
  const config = await loadKubeConfig(
    flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : { inCluster: true },
  );
  return new KubernetesDiscovery({
    api: new KubeClient(config),
    logger,
    clusterDomain: flags.clusterDomain,
  });
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
    .action(async (flags: AgentFlags) => {
      checkClusterName(flags.cluster, "--cluster");
      const logger = createLogger({ service: "agent", level: flags.logLevel });
      const registry = createRegistry("agent");
      const discovery = await discoveryOf(flags, logger);
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
        await agent.stop();
        await telemetry.close();
      });
    });
}
