import { readFile } from "node:fs/promises";
import { type ConfigProvider, type FileLimits, type FileText, fileProvider } from "../config/index.js";
import type { AuthConfig } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import type { WorkerPool } from "../lib/index.js";
import { lineOfField, parseAuthConfigFile } from "./config-file.js";

/** The auth configs of one snapshot, whatever provider yielded them. */
export interface AuthConfigSet {
  readonly configs: readonly AuthConfig[];
  /** Where a config's field is written (`file:line`), when they came from a file: for errors found while building. */
  locate?(configId: string, field: string): string | Promise<string>;
}

/** The worker thread's parser of an auth config file (the file provider gives a list of one). */
export function parseAuthConfigFiles(files: readonly FileText[]): AuthConfig[] {
  const [file] = files;
  return file ? parseAuthConfigFile(file.text, file.path) : [];
}

/**
 * The worker thread's `locate`: the file is read again, since its text stayed in the worker (a
 * file changed since shows its new line; the file name is right either way).
 */
export async function locateFieldTask(input: {
  path: string;
  configId: string;
  field: string;
  maxFileBytes: number;
}): Promise<string> {
  const text = await readFile(input.path, "utf8").catch(() => undefined);
  if (text === undefined || text.length > input.maxFileBytes) return input.path;
  const line = lineOfField(text, input.configId, input.field);
  return `${input.path}${line === undefined ? "" : `:${line}`}`;
}

const tasks = new URL("./config-set.js", import.meta.url);

/**
 * The provider of a standalone auth config file: read and parsed in a worker thread, within
 * `limits`; errors found while building are located in the file by the worker too.
 */
export function authConfigFileProvider(
  file: string,
  pool: WorkerPool,
  limits: FileLimits,
): ConfigProvider<AuthConfigSet> {
  return fileProvider<AuthConfigSet>({
    file,
    limits,
    worker: {
      pool,
      parser: { module: tasks, name: "parseAuthConfigFiles" },
      revive: (configs: AuthConfig[]): AuthConfigSet => ({
        configs,
        locate: (configId, field) =>
          pool.run<string>(
            { module: tasks, name: "locateFieldTask" },
            { path: file, configId, field, maxFileBytes: limits.maxFileBytes },
          ),
      }),
    },
  });
}
