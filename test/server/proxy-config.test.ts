// DescribeProxy's config: routing types in full, anything that may hold key material by name only.
import { describe, expect, it } from "vitest";
import { encodeResource } from "../../src/envoy/index.js";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { proxyConfigJson } from "../../src/server/proxy-config.js";

describe("a proxy's config as JSON", () => {
  it("shows clusters in full and a Secret by name and version only", () => {
    const key = "-----BEGIN PRIVATE KEY-----\nMIIE-not-a-real-key\n-----END PRIVATE KEY-----\n";
    const secret = encodeResource(SecretSchema, {
      name: "default",
      type: {
        case: "tlsCertificate",
        value: { privateKey: { specifier: { case: "inlineString", value: key } } },
      },
    });
    const cluster = encodeResource(ClusterSchema, { name: "shop/web:80", connectTimeout: { seconds: 1n } });
    const config = proxyConfigJson([secret, cluster]);
    expect(config).toEqual([
      {
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        name: "shop/web:80",
        version: cluster.version,
        content: { name: "shop/web:80", connectTimeout: "1s" },
      },
      {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
        name: "default",
        version: secret.version,
        content: "not shown: this type may hold secret material",
      },
    ]);
    expect(JSON.stringify(config)).not.toContain("PRIVATE KEY");
  });
});
