/** Who a workload is, once a credential it presented has been verified. */
export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
  /** The workload cluster it runs in, when the attestor knows it. */
  cluster?: string | undefined;
}

/** Why a credential was refused: shown to the operator, never containing the credential itself. */
export class AttestationError extends Error {
  constructor(
    message: string,
    readonly reason: "invalid" | "expired" | "unknown" | "unavailable",
  ) {
    super(message);
    this.name = "AttestationError";
  }
}

/**
 * Verifies a credential a workload presents (a Gantry bootstrap token, a Kubernetes service-account token, ...)
 * and says who the workload is; throws AttestationError when it cannot.
 */
export interface WorkloadAttestor {
  readonly kind: string;
  attest(credential: string, signal?: AbortSignal): Promise<WorkloadIdentity>;
}
