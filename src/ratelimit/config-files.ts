import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type ConfigProvider, directoryProvider, type FileLimits, type FileText } from "../config/index.js";
import type { RateLimitConfig } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import type { Timers } from "../lib/clock.js";
import type { WorkerPool } from "../lib/index.js";
import { configProblems } from "../ratelimit-config/index.js";
import type { FixedWindowKeyFormat } from "./algorithms.js";
import { RateLimitConfigError } from "./config-errors.js";
import { parseRateLimitYaml } from "./config-yaml.js";
import { compileRules, type RuleBook } from "./rules.js";

/**
 * Checks a whole set of configs (one domain each): every config on its own, and no domain twice.
 * Throws a RateLimitConfigError naming the config (its `name`: the file, or the xDS resource).
 */
export function checkConfigs(configs: readonly RateLimitConfig[]): void {
  const byDomain = new Map<string, string>();
  configs.forEach((config, i) => {
    const source = config.name === "" ? `config[${i}]` : config.name;
    const problem = configProblems(config)[0];
    if (problem) throw new RateLimitConfigError(source, problem.path, problem.problem);
    const first = byDomain.get(config.domain);
    if (first !== undefined)
      throw new RateLimitConfigError(source, "domain", `duplicate domain "${config.domain}" (also in ${first})`);
    byDomain.set(config.domain, source);
  });
}

function isConfigFile(name: string): boolean {
  return (name.endsWith(".yaml") || name.endsWith(".yml")) && !name.startsWith(".");
}

/** Parses a set of files (one domain each) and checks them together. All good, or a RateLimitConfigError. */
export function parseConfigFiles(files: readonly FileText[]): RateLimitConfig[] {
  const configs = files.map(({ path, text }) => parseRateLimitYaml(text, path));
  checkConfigs(configs);
  return configs;
}

/** Reads every `*.yaml` / `*.yml` in `dir` (one domain per file). All good, or a RateLimitConfigError. */
export function loadConfigDir(dir: string): RateLimitConfig[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter(isConfigFile).sort();
  } catch (err) {
    throw new RateLimitConfigError(dir, "", `cannot read the config directory: ${(err as Error).message}`);
  }
  const files = names.map((name) => {
    const path = join(dir, name);
    try {
      return { path, text: readFileSync(path, "utf8") };
    } catch (err) {
      throw new RateLimitConfigError(path, "", `cannot read: ${(err as Error).message}`);
    }
  });
  return parseConfigFiles(files);
}

/**
 * Parses, checks and compiles a set of files into the rule book calls are matched against: the
 * whole of a reload's work, run in a worker thread by configDirProvider. The rule book is plain
 * data, each domain's tree packed into one string and a few typed arrays (rule-tree.ts), so it
 * crosses back in a few steps however large the config.
 */
export function compileConfigFiles(files: readonly FileText[], options: { keyFormat: FixedWindowKeyFormat }): RuleBook {
  return compileRules(parseConfigFiles(files), options.keyFormat);
}

export interface ConfigDirOptions {
  /** The worker threads that read, parse and compile the files. */
  pool: WorkerPool;
  keyFormat: FixedWindowKeyFormat;
  limits?: FileLimits | undefined;
  quietMs?: number | undefined;
  timers?: Timers | undefined;
  startWithoutConfig?: boolean;
}

/**
 * The provider of a config directory (envoyproxy/ratelimit's layout: one domain per file, no
 * sub-folders), read again once writes are quiet for `quietMs` (editors and `kubectl` ConfigMap
 * updates write in several steps). Reading, parsing, checking and compiling run in a worker
 * thread; what it yields is the compiled rule book.
 */
export function configDirProvider(dir: string, options: ConfigDirOptions): ConfigProvider<RuleBook> {
  return directoryProvider<RuleBook>({
    dir,
    recursive: false,
    accept: isConfigFile,
    worker: {
      pool: options.pool,
      parser: { module: new URL("./config-files.js", import.meta.url), name: "compileConfigFiles" },
      options: { keyFormat: options.keyFormat },
    },
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.startWithoutConfig ? { startWithoutConfig: true } : {}),
    ...(options.quietMs === undefined ? {} : { quietMs: options.quietMs }),
    ...(options.timers === undefined ? {} : { timers: options.timers }),
  });
}
