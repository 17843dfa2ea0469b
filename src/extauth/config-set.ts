import type { FileText } from "../config/index.js";
import type { AuthConfig } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import { lineOfField, parseAuthConfigFile } from "./config-file.js";

/** The auth configs of one snapshot, whatever provider yielded them. */
export interface AuthConfigSet {
  readonly configs: readonly AuthConfig[];
  /** Where a config's field is written (`file:line`), when they came from a file: for errors found while building. */
  locate?(configId: string, field: string): string;
}

/** Parses an auth config file for the file provider. Throws an AuthConfigFileError naming the file and line. */
export function readAuthConfigFile({ path, text }: FileText): AuthConfigSet {
  return {
    configs: parseAuthConfigFile(text, path),
    locate: (configId, field) => {
      const line = lineOfField(text, configId, field);
      return `${path}${line === undefined ? "" : `:${line}`}`;
    },
  };
}
