import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { RelayAuth } from "../cluster/relay-auth.js";
import type { TrustService } from "../gen/gantry/relay/v1/trust_pb.js";
import { GrpcError, GrpcStatus, type ServiceImpl } from "../lib/grpc.js";
import type { Logger } from "../lib/logger.js";
import { Counter, type Registry } from "../lib/metrics.js";
import { type TrustAuthority, type TrustBundleView, TrustError } from "./authority.js";

/**
 * The relay port's TrustService: an enrolled agent (its cluster certificate checked by the same
 * RelayAuth as the relay stream) gets its cluster's intermediate CA and the trust bundle.
 */
export function trustService(options: {
  authority: TrustAuthority;
  auth: RelayAuth;
  logger?: Logger | undefined;
  metrics?: Registry | undefined;
}): ServiceImpl<typeof TrustService.method> {
  const { authority, auth, logger } = options;
  const issued = new Counter({
    name: "gantry_trust_intermediates_issued_total",
    help: "Clusters' intermediate CAs signed by the root",
    registers: options.metrics ? [options.metrics] : [],
  });
  const bundleMessage = (bundle: TrustBundleView) => ({
    trustDomain: bundle.trustDomain,
    rootsPem: [...bundle.rootsPem],
    signingRootPin: bundle.signingRootPin,
  });
  const failure = (err: unknown): unknown => {
    if (err instanceof TrustError) return new GrpcError(GrpcStatus.INVALID_ARGUMENT, `csr_pem: ${err.message}`);
    return err;
  };
  return {
    signIntermediate: async (request, call) => {
      const peer = await auth.verifyPeer(call, request.cluster);
      try {
        const answer = await authority.signIntermediate(peer.cluster, request.csrPem);
        issued.inc();
        logger?.info(
          { cluster: peer.cluster, notAfter: new Date(answer.notAfterMs).toISOString() },
          "cluster intermediate CA signed",
        );
        return {
          certificatePem: answer.certPem,
          chainPem: answer.chainPem,
          bundle: bundleMessage(answer.bundle),
          notAfter: timestampFromMs(answer.notAfterMs),
        };
      } catch (err) {
        throw failure(err);
      }
    },
    getTrustBundle: async (request, call) => {
      await auth.verifyPeer(call, request.cluster);
      return bundleMessage(await authority.bundle());
    },
  };
}
