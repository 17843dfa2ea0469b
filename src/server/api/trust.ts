import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ClusterStoreError } from "../../cluster/index.js";
import { RootSchema, type RootsResponse, RootsResponseSchema } from "../../gen/gantry/api/v1/trust_pb.js";
import { type RootView, type TrustAuthority, TrustError } from "../../trust/index.js";

/** The management API's TrustAdminService: the workload root CA's roots, and root rotation. */

/** Longest transition a caller may ask for: old roots should not linger for long. */
const maxTransitionSeconds = 365 * 24 * 3600;

function rootsMessage(authority: TrustAuthority, roots: readonly RootView[]): RootsResponse {
  return create(RootsResponseSchema, {
    trustDomain: authority.trustDomain,
    brought: authority.brought,
    roots: roots.map((r) =>
      create(RootSchema, {
        subject: r.subject,
        pin: r.pin,
        notAfter: timestampFromMs(r.notAfterMs),
        signing: r.signing,
        ...(r.trustedUntilMs === undefined ? {} : { trustedUntil: timestampFromMs(r.trustedUntilMs) }),
        certificatePem: r.certPem,
      }),
    ),
  });
}

function authorityOf(trust: TrustAuthority | undefined): TrustAuthority {
  if (!trust) {
    throw new ConnectError(
      "this server has no workload root CA: start gantry server with --relay-port",
      Code.FailedPrecondition,
    );
  }
  return trust;
}

function failure(err: unknown): never {
  if (err instanceof TrustError) throw new ConnectError(err.message, Code.FailedPrecondition);
  if (err instanceof ClusterStoreError) throw new ConnectError(err.message, Code.Unavailable);
  throw err;
}

export function trustAdminService(trust: TrustAuthority | undefined) {
  return {
    async getRoots() {
      const authority = authorityOf(trust);
      return rootsMessage(authority, await authority.roots().catch(failure));
    },
    async rotateRoot(request: { transitionSeconds: bigint }) {
      const authority = authorityOf(trust);
      const seconds = Number(request.transitionSeconds);
      if (seconds > maxTransitionSeconds) {
        throw new ConnectError(
          `transition_seconds ${seconds}: at most ${maxTransitionSeconds} (0: the server's default)`,
          Code.InvalidArgument,
        );
      }
      const roots = await (seconds === 0 ? authority.rotateRoot() : authority.rotateRoot(seconds * 1000)).catch(
        failure,
      );
      return rootsMessage(authority, roots);
    },
  };
}
