// TLS with Gantry's workload certificates, as each kind of peer reads it: Envoy by SDS (`default`,
// the workload's chain and key; `ROOTCA`, the trust bundle) over ADS, gRPC from the certificate
// provider `gantry` of its bootstrap (gRFC A29). The names are conventions shared with the CA side.
import type { Any } from "@bufbuild/protobuf/wkt";
import { SubjectAltNameMatcher_SanType } from "../../gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import {
  DownstreamTlsContextSchema,
  UpstreamTlsContextSchema,
} from "../../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import type { ModelWorkloadTls } from "../model.js";
import { adsConfigSource, pack } from "./common.js";

/** SDS secret names and the gRPC certificate provider instance name. */
export const workloadSecrets = { certificate: "default", trustBundle: "ROOTCA", grpcProvider: "gantry" } as const;

const gantryProvider = { instanceName: workloadSecrets.grpcProvider };

/** The transport socket of a client (Envoy cluster or gRPC client) calling a workload-TLS destination. */
export function upstreamWorkloadTls(tls: ModelWorkloadTls, client: "envoy" | "grpc"): Any {
  const mutual = tls.mode === "MUTUAL";
  if (client === "grpc") {
    return pack(UpstreamTlsContextSchema, {
      sni: tls.sni,
      commonTlsContext: {
        ...(mutual ? { tlsCertificateProviderInstance: gantryProvider } : {}),
        validationContextType: {
          case: "validationContext",
          value: {
            caCertificateProviderInstance: gantryProvider,
            matchSubjectAltNames: tls.serverIdentities.map((id) => ({
              matchPattern: { case: "exact" as const, value: id },
            })),
          },
        },
      },
    });
  }
  return pack(UpstreamTlsContextSchema, {
    sni: tls.sni,
    commonTlsContext: {
      ...(mutual
        ? { tlsCertificateSdsSecretConfigs: [{ name: workloadSecrets.certificate, sdsConfig: adsConfigSource() }] }
        : {}),
      validationContextType: {
        case: "combinedValidationContext",
        value: {
          defaultValidationContext: {
            matchTypedSubjectAltNames: tls.serverIdentities.map((id) => ({
              sanType: SubjectAltNameMatcher_SanType.URI,
              matcher: { matchPattern: { case: "exact" as const, value: id } },
            })),
          },
          validationContextSdsSecretConfig: { name: workloadSecrets.trustBundle, sdsConfig: adsConfigSource() },
        },
      },
    },
  });
}

/**
 * The transport socket of an xDS-enabled gRPC server: its workload certificate, and for MUTUAL a
 * client certificate required and checked against the trust bundle (gRPC servers match no SANs:
 * who may call is the RBAC filter's decision).
 */
export function serverWorkloadTls(mode: "SIMPLE" | "MUTUAL"): Any {
  return pack(DownstreamTlsContextSchema, {
    ...(mode === "MUTUAL" ? { requireClientCertificate: true } : {}),
    commonTlsContext: {
      tlsCertificateProviderInstance: gantryProvider,
      ...(mode === "MUTUAL"
        ? {
            validationContextType: {
              case: "validationContext",
              value: { caCertificateProviderInstance: gantryProvider },
            },
          }
        : {}),
    },
  });
}
