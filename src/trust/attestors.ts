import { AttestationError, type WorkloadAttestor, type WorkloadIdentity } from "./attestor.js";

/**
 * Several attestors, tried in the order configured: the first that proves the credential says who
 * the workload is. When none does, the error names each kind's reason; it is "unavailable" (worth
 * retrying) if any attestor could not answer, else the first attestor's reason.
 */
export class AttestorChain implements WorkloadAttestor {
  readonly kind: string;
  readonly #attestors: readonly WorkloadAttestor[];

  constructor(attestors: readonly WorkloadAttestor[]) {
    if (attestors.length === 0) throw new Error("no workload attestor configured");
    this.#attestors = attestors;
    this.kind = attestors.map((a) => a.kind).join(",");
  }

  async attest(credential: string, signal?: AbortSignal): Promise<WorkloadIdentity> {
    const refusals: AttestationError[] = [];
    for (const attestor of this.#attestors) {
      try {
        return await attestor.attest(credential, signal);
      } catch (err) {
        refusals.push(
          err instanceof AttestationError
            ? new AttestationError(`${attestor.kind}: ${err.message}`, err.reason)
            : new AttestationError(`${attestor.kind}: ${(err as Error).message}`, "unavailable"),
        );
      }
    }
    if (refusals.length === 1) throw refusals[0] as AttestationError;
    const reason = refusals.some((r) => r.reason === "unavailable")
      ? "unavailable"
      : (refusals[0] as AttestationError).reason;
    throw new AttestationError(refusals.map((r) => r.message).join("; "), reason);
  }
}
