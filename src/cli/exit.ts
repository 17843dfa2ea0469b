/**
 * A command that did its work but ends with a non-zero exit code, such as `apply` when the
 * translator rejects a resource: `main` prints the message and exits with `code`.
 */
export class ExitStatus extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "ExitStatus";
  }
}
