import { type Command, InvalidArgumentError, Option } from "commander";
import { stringify } from "yaml";
import { bootstrapToJson, buildBootstrap, type ProxyRole, proxyRoles } from "../../server/bootstrap.js";
import { parsePort } from "../options.js";

function parseLabels(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const labels = { ...previous };
  for (const pair of value.split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new InvalidArgumentError(`"${pair}" is not key=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

function parseAddress(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  if (!match?.[1] || !match[2]) throw new InvalidArgumentError(`"${value}" is not host:port`);
  return { host: match[1].replace(/^\[|\]$/g, ""), port: parsePort(match[2]) };
}

interface BootstrapFlags {
  nodeId: string;
  role: ProxyRole;
  labels?: Record<string, string>;
  xdsAddress: { host: string; port: number };
  cluster?: string;
  adminPort?: number;
  sotw?: boolean;
  output: "yaml" | "json";
}

export function registerBootstrap(program: Command): void {
  program
    .command("bootstrap")
    .description("print an Envoy bootstrap that takes all its config from the Gantry server over ADS (delta)")
    .requiredOption("--node-id <id>", "the Envoy node id (unique per proxy)")
    .addOption(new Option("--role <role>", "what the proxy is").choices(proxyRoles).makeOptionMandatory())
    .option("--labels <k=v,...>", "node labels that Gateway selectors match (repeatable)", parseLabels)
    .addOption(
      new Option("--xds-address <host:port>", "the management server's xDS address as Envoy resolves it")
        .env("GANTRY_XDS_ADDRESS")
        .default({ host: "127.0.0.1", port: 18000 }, "127.0.0.1:18000")
        .argParser(parseAddress),
    )
    .option("--cluster <name>", "the Envoy node cluster (default gantry-<role>)")
    .option("--admin-port <port>", "Envoy admin port (default 9901 for gateways, 15000 for sidecars)", parsePort)
    .option("--sotw", "use state-of-the-world ADS instead of delta")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action((flags: BootstrapFlags) => {
      const bootstrap = buildBootstrap({
        nodeId: flags.nodeId,
        role: flags.role,
        labels: flags.labels ?? {},
        xdsHost: flags.xdsAddress.host,
        xdsPort: flags.xdsAddress.port,
        ...(flags.cluster === undefined ? {} : { cluster: flags.cluster }),
        ...(flags.adminPort === undefined ? {} : { adminPort: flags.adminPort }),
        ...(flags.sotw ? { stateOfTheWorld: true } : {}),
      });
      const json = bootstrapToJson(bootstrap);
      process.stdout.write(flags.output === "json" ? `${JSON.stringify(json, null, 2)}\n` : stringify(json));
    });
}
