import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { stringify } from "yaml";
import { bootstrapToJson, buildBootstrap, type ProxyRole, proxyRoles } from "../../server/bootstrap.js";
import { buildGrpcBootstrap, parseLocality } from "../../server/bootstrap-grpc.js";
import { parseHostPort, parsePort, parsePositiveInt } from "../options.js";

function parseLabels(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const labels = { ...previous };
  for (const pair of value.split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new InvalidArgumentError(`"${pair}" is not key=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

interface BootstrapFlags {
  format: "envoy" | "grpc";
  nodeId: string;
  role?: ProxyRole;
  labels?: Record<string, string>;
  xdsAddress: { host: string; port: number };
  cluster?: string;
  adminPort?: number;
  sotw?: boolean;
  locality?: string;
  serverListenerTemplate?: string;
  output?: "yaml" | "json";
  xdsCaFile?: string;
  xdsCertFile?: string;
  xdsKeyFile?: string;
  xdsServerName?: string;
  tracingCollector?: { host: string; port: number };
  workloadTokenFile?: string;
  certsDir?: string;
  certsRefreshSeconds?: number;
}

/** The workload token in `file`, for the bootstrap; errors name the flag. */
function readWorkloadToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`--workload-token-file ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new Error(
      `--workload-token-file ${file}: expected one token (gantry workload token), printable and without spaces`,
    );
  }
  return token;
}

/** The bootstrap's TLS to the xDS port: on with --xds-ca-file; paths are the proxy's, not read here. */
function xdsTls(flags: BootstrapFlags) {
  if (flags.xdsCaFile === undefined) {
    for (const [flag, set] of [
      ["--xds-cert-file", flags.xdsCertFile],
      ["--xds-key-file", flags.xdsKeyFile],
      ["--xds-server-name", flags.xdsServerName],
    ] as const) {
      if (set !== undefined)
        throw new Error(`${flag} needs --xds-ca-file (the CA that signed the xDS server's certificate)`);
    }
    return undefined;
  }
  return {
    caFile: flags.xdsCaFile,
    ...(flags.xdsCertFile === undefined ? {} : { certFile: flags.xdsCertFile }),
    ...(flags.xdsKeyFile === undefined ? {} : { keyFile: flags.xdsKeyFile }),
    ...(flags.xdsServerName === undefined ? {} : { serverName: flags.xdsServerName }),
  };
}

export function registerBootstrap(program: Command): void {
  program
    .command("bootstrap")
    .description(
      "print a bootstrap that takes all its config from the Gantry server: for Envoy (ADS, delta by default) or, with --format grpc, for proxyless gRPC clients and xDS-enabled gRPC servers",
    )
    .addOption(
      new Option("--format <format>", "envoy: an Envoy bootstrap; grpc: a gRPC xDS bootstrap (JSON)")
        .choices(["envoy", "grpc"])
        .default("envoy"),
    )
    .requiredOption("--node-id <id>", "the node id (unique per proxy or gRPC process)")
    .addOption(
      new Option("--role <role>", "what the Envoy proxy is (required with --format envoy)").choices(proxyRoles),
    )
    .option("--labels <k=v,...>", "node labels that Gateway selectors match (repeatable)", parseLabels)
    .addOption(
      new Option("--xds-address <host:port>", "the management server's xDS address as the proxy or client resolves it")
        .env("GANTRY_XDS_ADDRESS")
        .default({ host: "127.0.0.1", port: 18000 }, "127.0.0.1:18000")
        .argParser(parseHostPort),
    )
    .option(
      "--cluster <name>",
      "the workload cluster the node runs in (node cluster and metadata `cluster`; default node cluster gantry-<role>, or gantry-grpc)",
    )
    .option("--admin-port <port>", "Envoy admin port (default 9901 for gateways, 15000 for sidecars)", parsePort)
    .option("--sotw", "Envoy: use state-of-the-world ADS instead of delta (gRPC always does)")
    .option("--locality <region[/zone[/sub-zone]]>", "gRPC: where the client runs, for locality-aware balancing")
    .option(
      "--server-listener-template <name>",
      "gRPC: the Listener name xDS-enabled gRPC servers ask for, %s being their address",
    )
    .option("--xds-ca-file <path>", "connect to a TLS xDS port: the CA file, as a path on the proxy's host")
    .option("--xds-cert-file <path>", "with --xds-ca-file: the proxy's client certificate (mTLS), a path on its host")
    .option("--xds-key-file <path>", "with --xds-cert-file: its private key, a path on the proxy's host")
    .option(
      "--tracing-collector <host:port>",
      "Envoy: send spans to this OpenTelemetry collector's OTLP/gRPC port (Envoy's OpenTelemetry tracer)",
      parseHostPort,
    )
    .option("--xds-server-name <name>", "Envoy: the name the xDS server's certificate carries (default the xDS host)")
    .option(
      "--workload-token-file <path>",
      "Envoy: the proxy's workload token (gantry workload token), sent on the ADS stream so the agent serves it its SDS secrets default and ROOTCA",
    )
    .option(
      "--certs-dir <dir>",
      "gRPC: the folder with cert-chain.pem, key.pem and root-cert.pem (the agent's --workload-certs-dir/<ns>/<sa>), as certificate provider `gantry`",
    )
    .option(
      "--certs-refresh-seconds <n>",
      "gRPC: how often gRPC reads the --certs-dir files again (default 10); keep it well under a third of the agent's --workload-cert-ttl-seconds",
      parsePositiveInt,
    )
    .addOption(
      new Option("-o, --output <format>", "output format (default yaml; json for --format grpc)").choices([
        "yaml",
        "json",
      ]),
    )
    .action((flags: BootstrapFlags) => {
      const tls = xdsTls(flags);
      if (flags.format === "grpc") {
        if (flags.output === "yaml") throw new Error("-o yaml: gRPC reads JSON bootstraps only");
        for (const [flag, set] of [
          ["--role", flags.role],
          ["--admin-port", flags.adminPort],
          ["--sotw", flags.sotw],
          ["--xds-server-name", flags.xdsServerName],
          ["--tracing-collector", flags.tracingCollector],
          ["--workload-token-file", flags.workloadTokenFile],
        ] as const) {
          if (set !== undefined) throw new Error(`${flag} is for Envoy bootstraps, not --format grpc`);
        }
        if (flags.certsRefreshSeconds !== undefined && flags.certsDir === undefined) {
          throw new Error("--certs-refresh-seconds needs --certs-dir: it is how often the certificate files are read");
        }
        const bootstrap = buildGrpcBootstrap({
          nodeId: flags.nodeId,
          labels: flags.labels ?? {},
          xdsHost: flags.xdsAddress.host,
          xdsPort: flags.xdsAddress.port,
          ...(flags.cluster === undefined ? {} : { cluster: flags.cluster }),
          ...(flags.locality === undefined ? {} : { locality: parseLocality(flags.locality) }),
          ...(tls ? { xdsTls: tls } : {}),
          ...(flags.certsDir === undefined ? {} : { certsDir: flags.certsDir }),
          ...(flags.certsRefreshSeconds === undefined ? {} : { certsRefreshSeconds: flags.certsRefreshSeconds }),
          ...(flags.serverListenerTemplate === undefined
            ? {}
            : { serverListenerTemplate: flags.serverListenerTemplate }),
        });
        process.stdout.write(`${JSON.stringify(bootstrap, null, 2)}\n`);
        return;
      }
      if (flags.role === undefined) throw new Error("--role is required for an Envoy bootstrap");
      for (const [flag, set] of [
        ["--locality", flags.locality],
        ["--server-listener-template", flags.serverListenerTemplate],
        ["--certs-dir", flags.certsDir],
        ["--certs-refresh-seconds", flags.certsRefreshSeconds],
      ] as const) {
        if (set !== undefined) throw new Error(`${flag} is for gRPC bootstraps (--format grpc)`);
      }
      const bootstrap = buildBootstrap({
        nodeId: flags.nodeId,
        role: flags.role,
        labels: flags.labels ?? {},
        xdsHost: flags.xdsAddress.host,
        xdsPort: flags.xdsAddress.port,
        ...(flags.cluster === undefined ? {} : { cluster: flags.cluster }),
        ...(flags.adminPort === undefined ? {} : { adminPort: flags.adminPort }),
        ...(flags.sotw ? { stateOfTheWorld: true } : {}),
        ...(tls ? { xdsTls: tls } : {}),
        ...(flags.tracingCollector ? { tracingCollector: flags.tracingCollector } : {}),
        ...(flags.workloadTokenFile === undefined ? {} : { workloadToken: readWorkloadToken(flags.workloadTokenFile) }),
      });
      const json = bootstrapToJson(bootstrap);
      process.stdout.write(flags.output === "json" ? `${JSON.stringify(json, null, 2)}\n` : stringify(json));
    });
}
