import { create } from "@bufbuild/protobuf";
import { encodeResource, type XdsResource } from "../envoy/index.js";
import { SecretSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { WorkloadCertificate } from "./issuer.js";

/** The SDS secret names every proxy's transport sockets use (the lead's shared convention). */
export const workloadSecretName = "default";
export const trustBundleSecretName = "ROOTCA";

/** A workload's two SDS secrets: `default` (its certificate chain and key) and `ROOTCA` (the roots). */
export function workloadSecrets(certificate: WorkloadCertificate): XdsResource[] {
  return [
    encodeResource(
      SecretSchema,
      create(SecretSchema, {
        name: workloadSecretName,
        type: {
          case: "tlsCertificate",
          value: {
            certificateChain: { specifier: { case: "inlineString", value: certificate.certChainPem } },
            privateKey: { specifier: { case: "inlineString", value: certificate.keyPem } },
          },
        },
      }),
    ),
    encodeResource(
      SecretSchema,
      create(SecretSchema, {
        name: trustBundleSecretName,
        type: {
          case: "validationContext",
          value: { trustedCa: { specifier: { case: "inlineString", value: certificate.bundlePem } } },
        },
      }),
    ),
  ];
}
