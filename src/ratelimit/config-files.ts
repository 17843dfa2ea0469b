import { type FSWatcher, readdirSync, readFileSync, watch } from "node:fs";
import { join } from "node:path";
import type { RateLimitConfig } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
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

/** Reads every `*.yaml` / `*.yml` in `dir` (one domain per file). All good, or a RateLimitConfigError. */
export function loadConfigDir(dir: string): RateLimitConfig[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter(isConfigFile).sort();
  } catch (err) {
    throw new RateLimitConfigError(dir, "", `cannot read the config directory: ${(err as Error).message}`);
  }
  const configs = names.map((name) => {
    const path = join(dir, name);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new RateLimitConfigError(path, "", `cannot read: ${(err as Error).message}`);
    }
    return parseRateLimitYaml(text, path);
  });
  checkConfigs(configs);
  return configs;
}

/** A source of config updates; the file watcher now, the xDS client later. */
export interface ConfigWatcher {
  close(): void;
}

/**
 * Calls `onChange` after files in `dir` change, once things are quiet for `debounceMs` (editors and
 * `kubectl` ConfigMap updates write in several steps).
 */
export function watchConfigDir(
  dir: string,
  onChange: () => void,
  onError: (err: Error) => void,
  debounceMs = 100,
): ConfigWatcher {
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dir, { persistent: false }, () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  watcher.on("error", onError);
  return {
    close: () => {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
