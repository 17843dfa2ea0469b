// A workload's identity from its projected service-account token, checked by the apiserver that
// issued it (the TokenReview API): the token must be valid, unexpired, bound to a live object, and
// meant for one of Gantry's audiences; the identity is the service account's namespace and name.
// The token itself is never logged nor put in an error.
import { AttestationError, type WorkloadAttestor, type WorkloadIdentity } from "../trust/attestor.js";
import { type KubeApi, KubeClient, type KubeSource, loadKubeConfig } from "./api.js";

export interface TokenReviewAttestorOptions {
  api: KubeApi;
  /** The audiences a token must be meant for (at least one); a token for another audience is refused. */
  audiences: readonly string[];
  /** The workload cluster the apiserver serves, put on the identities it attests. */
  cluster?: string;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string };
}

const serviceAccountPrefix = "system:serviceaccount:";

/** `system:serviceaccount:<namespace>:<name>`, the username the apiserver gives a service account. */
export function serviceAccountOf(username: string): { namespace: string; serviceAccount: string } | undefined {
  if (!username.startsWith(serviceAccountPrefix)) return undefined;
  const [namespace, serviceAccount, ...rest] = username.slice(serviceAccountPrefix.length).split(":");
  if (!namespace || !serviceAccount || rest.length > 0) return undefined;
  return { namespace, serviceAccount };
}

export class TokenReviewAttestor implements WorkloadAttestor {
  readonly kind = "kubernetes-token-review";
  readonly #options: TokenReviewAttestorOptions;

  constructor(options: TokenReviewAttestorOptions) {
    if (options.audiences.length === 0 || options.audiences.some((a) => a.trim() === "")) {
      throw new Error("TokenReview attestor: give at least one non-empty audience (--token-audience)");
    }
    this.#options = options;
  }

  async attest(credential: string, signal?: AbortSignal): Promise<WorkloadIdentity> {
    const token = credential.trim();
    if (!token) throw new AttestationError("no service-account token was presented", "invalid");
    const { api, audiences } = this.#options;
    let status: TokenReviewStatus;
    try {
      const review = await api.request<{ status?: TokenReviewStatus }>(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenReview",
            spec: { token, audiences: [...audiences] },
          },
          ...(signal ? { signal } : {}),
        },
      );
      status = review.status ?? {};
    } catch (err) {
      // The apiserver could not be asked (down, or Gantry may not create TokenReviews): say so, not "invalid".
      throw new AttestationError(
        `cannot review the token with the Kubernetes API at ${api.server}: ${(err as Error).message}`,
        "unavailable",
      );
    }
    if (!status.authenticated) {
      const why = status.error ?? "not authenticated";
      throw new AttestationError(
        `service-account token refused by the Kubernetes API: ${why}`,
        /expired/i.test(why) ? "expired" : "invalid",
      );
    }
    // The apiserver answers with the requested audiences the token is meant for; none of ours: refused.
    const granted = (status.audiences ?? []).filter((a) => audiences.includes(a));
    if (granted.length === 0) {
      throw new AttestationError(
        `service-account token is not meant for ${audiences.map((a) => `"${a}"`).join(" or ")} (its audiences: ${(status.audiences ?? []).join(", ") || "none"})`,
        "invalid",
      );
    }
    const username = status.user?.username ?? "";
    const account = serviceAccountOf(username);
    if (!account) {
      throw new AttestationError(`the token is not a service account's (user "${username}")`, "unknown");
    }
    return { ...account, cluster: this.#options.cluster };
  }
}

/** The attestor as the flags give it: `--kubeconfig` (or the pod's own service account) and the audiences. */
export async function tokenReviewAttestor(options: {
  source: KubeSource;
  audiences: readonly string[];
  cluster?: string;
}): Promise<TokenReviewAttestor> {
  return new TokenReviewAttestor({
    api: new KubeClient(await loadKubeConfig(options.source)),
    audiences: options.audiences,
    ...(options.cluster ? { cluster: options.cluster } : {}),
  });
}
