/**
 * A config that cannot be used. `source` names the file (or the xDS resource); `line` is known for
 * YAML files. The message reads `file:line: field: problem`.
 */
export class RateLimitConfigError extends Error {
  constructor(
    readonly source: string,
    readonly path: string,
    readonly problem: string,
    readonly line?: number,
  ) {
    super(`${source}${line === undefined ? "" : `:${line}`}: ${path === "" ? "" : `${path}: `}${problem}`);
    this.name = "RateLimitConfigError";
  }
}
