import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { checkClusterName } from "../../cluster/identity.js";
import { defaultWorkloadTokenTtlMs, loadTokenKey, mintWorkloadToken, readKeyEncryptionKey } from "../../trust/index.js";
import { parsePositiveInt } from "../options.js";
import { keyEncryptionKeyFlag } from "./agent.js";

interface TokenFlags {
  dataDir: string;
  cluster: string;
  namespace: string;
  serviceAccount: string;
  ttlSeconds: number;
  keyEncryptionKeyFile?: string;
  out?: string;
}

/** `gantry workload token`: mints a workload's bootstrap token with its cluster agent's token key (docs/security.md). */
export function registerWorkload(program: Command): void {
  const workload = program.command("workload").description("workload identity: bootstrap tokens for workloads");
  workload
    .command("token")
    .description(
      "print a bootstrap token with which a workload proves its namespace and service account to its cluster's agent (run where the agent's --data-dir is)",
    )
    .addOption(
      new Option("--data-dir <dir>", "the agent's data dir (holds the cluster's token key)")
        .env("GANTRY_DATA_DIR")
        .makeOptionMandatory(),
    )
    .addOption(new Option("--cluster <name>", "the agent's cluster").env("GANTRY_CLUSTER").makeOptionMandatory())
    .requiredOption("--namespace <ns>", "the workload's namespace")
    .requiredOption("--service-account <sa>", "the workload's service account")
    .addOption(
      new Option("--ttl-seconds <n>", "how long the token is accepted")
        .default(defaultWorkloadTokenTtlMs / 1000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--key-encryption-key-file <path>", "the agent's key-encryption key, if it has one").env(
        "GANTRY_KEY_ENCRYPTION_KEY_FILE",
      ),
    )
    .option("--out <file>", "write the token to this file (mode 0600) instead of printing it")
    .action((flags: TokenFlags) => {
      checkClusterName(flags.cluster, "--cluster");
      const kek = readKeyEncryptionKey(flags.keyEncryptionKeyFile, keyEncryptionKeyFlag, "GANTRY_KEY_ENCRYPTION_KEY");
      const key = loadTokenKey(flags.dataDir, kek, keyEncryptionKeyFlag);
      const token = mintWorkloadToken(key, {
        cluster: flags.cluster,
        namespace: flags.namespace,
        serviceAccount: flags.serviceAccount,
        ttlMs: flags.ttlSeconds * 1000,
      });
      if (flags.out) writeFileSync(flags.out, `${token}\n`, { mode: 0o600 });
      else process.stdout.write(`${token}\n`);
    });
}
