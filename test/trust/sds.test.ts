import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TypeUrl, validateMessage } from "../../src/envoy/index.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { buildBootstrap } from "../../src/server/bootstrap.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { workloadSecrets } from "../../src/trust/index.js";

const certificate = {
  identity: { namespace: "shop", serviceAccount: "cart" },
  spiffeId: "spiffe://gantry.local/ns/shop/sa/cart",
  certChainPem: "-----BEGIN CERTIFICATE-----\nchain\n-----END CERTIFICATE-----\n",
  keyPem: "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n",
  bundlePem: "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n",
  issuedAtMs: 0,
  notAfterMs: 1,
};

describe("workload SDS secrets and bootstraps", () => {
  it("are `default` (chain and key) and `ROOTCA` (the bundle), valid against Envoy's protos", () => {
    const resources = workloadSecrets(certificate);
    expect(resources.map((r) => [r.typeUrl, r.name])).toEqual([
      [TypeUrl.secret, "default"],
      [TypeUrl.secret, "ROOTCA"],
    ]);
    for (const resource of resources) {
      const secret = fromBinary(SecretSchema, resource.value);
      expect(validateMessage(SecretSchema, secret)).toEqual([]);
    }
    const [tls, roots] = resources.map((r) => fromBinary(SecretSchema, r.value));
    expect(tls?.type.case === "tlsCertificate" && tls.type.value.privateKey?.specifier.value).toBe(certificate.keyPem);
    expect(roots?.type.case === "validationContext" && roots.type.value.trustedCa?.specifier.value).toBe(
      certificate.bundlePem,
    );
  });

  it("an Envoy bootstrap with a workload token sends it as the ADS stream's authorization metadata", () => {
    const bootstrap = buildBootstrap({
      nodeId: "cart-1",
      role: "sidecar",
      labels: {},
      xdsHost: "127.0.0.1",
      xdsPort: 18000,
      workloadToken: "gwt1.a.b",
    });
    expect(bootstrap.dynamicResources?.adsConfig?.grpcServices[0]?.initialMetadata).toEqual([
      expect.objectContaining({ key: "authorization", value: "Bearer gwt1.a.b" }),
    ]);
  });

  it("a gRPC bootstrap with a certs dir names the file_watcher provider `gantry`", () => {
    const bootstrap = buildGrpcBootstrap({
      nodeId: "cart-1",
      labels: {},
      xdsHost: "127.0.0.1",
      xdsPort: 18000,
      certsDir: "/certs/shop/cart",
    });
    expect(bootstrap.certificate_providers).toEqual({
      gantry: {
        plugin_name: "file_watcher",
        config: {
          certificate_file: "/certs/shop/cart/cert-chain.pem",
          private_key_file: "/certs/shop/cart/key.pem",
          ca_certificate_file: "/certs/shop/cart/root-cert.pem",
          refresh_interval: "10s",
        },
      },
    });
    expect(
      buildGrpcBootstrap({ nodeId: "x", labels: {}, xdsHost: "h", xdsPort: 1 }).certificate_providers,
    ).toBeUndefined();
  });
});
