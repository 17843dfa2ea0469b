import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type ConfigProvider, directoryProvider, type FileText } from "../config/index.js";
import type { RateLimitConfig } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import type { Timers } from "../lib/clock.js";
import { configProblems } from "../ratelimit-config/index.js";
import { RateLimitConfigError } from "./config-errors.js";
import { parseRateLimitYaml } from "./config-yaml.js";

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
 * The provider of a config directory (envoyproxy/ratelimit's layout: one domain per file, no
 * sub-folders), read again once writes are quiet for `quietMs` (editors and `kubectl` ConfigMap
 * updates write in several steps).
 */
export function configDirProvider(
  dir: string,
  options: { quietMs?: number | undefined; timers?: Timers | undefined; startWithoutConfig?: boolean } = {},
): ConfigProvider<readonly RateLimitConfig[]> {
  return directoryProvider({
    dir,
    recursive: false,
    accept: isConfigFile,
    parse: parseConfigFiles,
    ...(options.startWithoutConfig ? { startWithoutConfig: true } : {}),
    ...(options.quietMs === undefined ? {} : { quietMs: options.quietMs }),
    ...(options.timers === undefined ? {} : { timers: options.timers }),
  });
}
