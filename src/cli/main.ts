import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerAgent } from "./commands/agent.js";
import { registerAnalyze } from "./commands/analyze.js";
import { registerApiKey } from "./commands/apikey.js";
import { registerBootstrap } from "./commands/bootstrap.js";
import { registerCa } from "./commands/ca.js";
import { registerCluster } from "./commands/cluster.js";
import { registerDescribe } from "./commands/describe.js";
import { registerExtAuth } from "./commands/extauth.js";
import { registerInsights } from "./commands/insights.js";
import { registerPortal } from "./commands/portal.js";
import { registerRateLimit } from "./commands/ratelimit.js";
import { registerResourceCommands } from "./commands/resources.js";
import { registerServer } from "./commands/server.js";
import { registerUp } from "./commands/up.js";
import { registerWorkload } from "./commands/workload.js";
import { ExitStatus } from "./exit.js";

/** Subcommands register themselves here; each module adds one command to the program. */
const subcommands: Array<(program: Command) => void> = [
  registerUp,
  registerServer,
  registerAgent,
  registerBootstrap,
  registerResourceCommands,
  registerDescribe,
  registerInsights,
  registerAnalyze,
  registerExtAuth,
  registerApiKey,
  registerCluster,
  registerRateLimit,
  registerWorkload,
  registerCa,
  registerPortal,
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command("gantry")
    .description("Gantry: an open control plane for Envoy (xDS server, ext_authz and rate-limit services)")
    .version(version(), "-v, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .showHelpAfterError("(run with --help for usage)")
    // Options after a subcommand are the subcommand's: `insights silence` takes --kind and --server
    // as `insights` does, and commander hands such options to the parent unless positional.
    .enablePositionalOptions()
    .exitOverride();
  for (const register of subcommands) register(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ExitStatus) {
      process.stderr.write(`gantry: ${err.message}\n`);
      return err.code;
    }
    process.stderr.write(`gantry: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
