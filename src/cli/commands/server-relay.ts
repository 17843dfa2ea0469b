import { readFileSync } from "node:fs";
import { Option } from "commander";
import {
  ClusterRegistry,
  type ClusterStore,
  checkTrustDomain,
  defaultTrustDomain,
  MemoryClusterStore,
  maxTokenTtlMs,
  RedisClusterStore,
} from "../../cluster/index.js";
import { readKeyEncryptionKey, TrustAuthority } from "../../trust/index.js";
import { parsePort, parsePositiveInt } from "../options.js";

// The relay flags of `gantry server`: the relay port for workload clusters' agents, its CA, and the
// cluster registry behind it (docs/multicluster.md, "Registration").

export interface RelayFlags {
  relayPort?: number;
  relayCaCertFile?: string;
  relayCaKeyFile?: string;
  trustDomain: string;
  clusterCertTtlSeconds: number;
  clusterTokenTtlSeconds: number;
  redisUrl?: string;
  redisTimeoutMs: number;
  caCertFile?: string;
  caKeyFile?: string;
  caKeyEncryptionKeyFile?: string;
  clusterCaTtlSeconds: number;
}

export function relayOptions(): Option[] {
  return [
    new Option(
      "--relay-port <port>",
      "serve the relay for workload clusters' agents on this port (registration and mTLS; off without it)",
    )
      .env("GANTRY_RELAY_PORT")
      .argParser(parsePort),
    new Option(
      "--relay-ca-cert-file <path>",
      "the relay CA's certificate (PEM); default: a CA made on first start and kept in the management Redis",
    ).env("GANTRY_RELAY_CA_CERT_FILE"),
    new Option("--relay-ca-key-file <path>", "the relay CA's private key (PEM, unencrypted)").env(
      "GANTRY_RELAY_CA_KEY_FILE",
    ),
    new Option("--trust-domain <domain>", "SPIFFE trust domain of cluster identities (spiffe://DOMAIN/cluster/NAME)")
      .env("GANTRY_TRUST_DOMAIN")
      .default(defaultTrustDomain),
    new Option("--cluster-cert-ttl-seconds <n>", "lifetime of clusters' certificates; agents rotate at two thirds")
      .env("GANTRY_CLUSTER_CERT_TTL_SECONDS")
      .default(86_400)
      .argParser(parsePositiveInt),
    new Option(
      "--cluster-token-ttl-seconds <n>",
      "lifetime of a registration token unless `gantry cluster add --ttl-seconds` says",
    )
      .env("GANTRY_CLUSTER_TOKEN_TTL_SECONDS")
      .default(3_600)
      .argParser(parsePositiveInt),
    new Option(
      "--ca-cert-file <path>",
      "the workload root CA (PEM): a root, or an intermediate followed by its chain up to your root; default: a root made on first start and kept in the store",
    ).env("GANTRY_CA_CERT_FILE"),
    new Option("--ca-key-file <path>", "the private key of --ca-cert-file's CA (PEM, unencrypted)").env(
      "GANTRY_CA_KEY_FILE",
    ),
    new Option(
      "--ca-key-encryption-key-file <path>",
      "a 32-byte key (hex or base64) that seals the root CA keys Gantry keeps in the store (or GANTRY_CA_KEY_ENCRYPTION_KEY); without it they are stored in the clear",
    ).env("GANTRY_CA_KEY_ENCRYPTION_KEY_FILE"),
    new Option("--cluster-ca-ttl-seconds <n>", "lifetime of clusters' intermediate CAs; agents renew at two thirds")
      .env("GANTRY_CLUSTER_CA_TTL_SECONDS")
      .default(30 * 86_400)
      .argParser(parsePositiveInt),
  ];
}

export function checkRelayFlags(flags: RelayFlags): void {
  checkTrustDomain(flags.trustDomain);
  // The same bound `gantry cluster add --ttl-seconds` has: a registration token is a credential.
  if (flags.clusterTokenTtlSeconds * 1000 > maxTokenTtlMs) {
    throw new Error(
      `--cluster-token-ttl-seconds ${flags.clusterTokenTtlSeconds}: at most ${maxTokenTtlMs / 1000} (7 days)`,
    );
  }
  if ((flags.relayCaCertFile === undefined) !== (flags.relayCaKeyFile === undefined)) {
    throw new Error("--relay-ca-cert-file and --relay-ca-key-file go together: give both or neither");
  }
  if (flags.relayPort === undefined && flags.relayCaCertFile !== undefined) {
    throw new Error("--relay-ca-cert-file needs --relay-port: the relay CA is used only on the relay port");
  }
  if ((flags.caCertFile === undefined) !== (flags.caKeyFile === undefined)) {
    throw new Error("--ca-cert-file and --ca-key-file go together: give both or neither");
  }
  if (flags.relayPort === undefined) {
    for (const [flag, value] of [
      ["--ca-cert-file", flags.caCertFile],
      ["--ca-key-encryption-key-file", flags.caKeyEncryptionKeyFile],
    ] as const) {
      if (value !== undefined) {
        throw new Error(
          `${flag} needs --relay-port: the root CA signs workload clusters' intermediates on the relay port`,
        );
      }
    }
  }
}

function readRelayCaFile(flag: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(
      `${flag} ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`,
    );
  }
}

/**
 * The cluster registry of the relay port and the workload root CA, in one store: the management Redis
 * with one, else memory (and new CAs per start). Every file and flag is checked before a port opens.
 */
export async function openClusterRegistry(
  flags: RelayFlags,
): Promise<{ registry: ClusterRegistry; trust: TrustAuthority }> {
  const store: ClusterStore = flags.redisUrl
    ? new RedisClusterStore({ url: flags.redisUrl, commandTimeoutMs: flags.redisTimeoutMs })
    : new MemoryClusterStore();
  const ca =
    flags.relayCaCertFile && flags.relayCaKeyFile
      ? {
          certPem: readRelayCaFile("--relay-ca-cert-file", flags.relayCaCertFile),
          keyPem: readRelayCaFile("--relay-ca-key-file", flags.relayCaKeyFile),
          where: {
            cert: `--relay-ca-cert-file ${flags.relayCaCertFile}`,
            key: `--relay-ca-key-file ${flags.relayCaKeyFile}`,
          },
        }
      : undefined;
  const kekFlag = "--ca-key-encryption-key-file";
  try {
    const keyEncryptionKey = readKeyEncryptionKey(
      flags.caKeyEncryptionKeyFile,
      kekFlag,
      "GANTRY_CA_KEY_ENCRYPTION_KEY",
    );
    const userCa =
      flags.caCertFile && flags.caKeyFile
        ? {
            certPem: readRelayCaFile("--ca-cert-file", flags.caCertFile),
            keyPem: readRelayCaFile("--ca-key-file", flags.caKeyFile),
            where: { cert: `--ca-cert-file ${flags.caCertFile}`, key: `--ca-key-file ${flags.caKeyFile}` },
          }
        : undefined;
    const registry = await ClusterRegistry.open({
      store,
      trustDomain: flags.trustDomain,
      ...(ca ? { ca } : {}),
      certificateTtlMs: flags.clusterCertTtlSeconds * 1000,
      tokenTtlMs: flags.clusterTokenTtlSeconds * 1000,
    });
    const trust = await TrustAuthority.open({
      store,
      trustDomain: flags.trustDomain,
      keyEncryptionKey,
      keyEncryptionKeyFlag: kekFlag,
      userCa,
      intermediateTtlMs: flags.clusterCaTtlSeconds * 1000,
    });
    return { registry, trust };
  } catch (err) {
    await store.close();
    throw err;
  }
}
