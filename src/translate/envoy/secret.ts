import { create } from "@bufbuild/protobuf";
import type { DataSource as EnvoyDataSource } from "../../gen/envoy/config/core/v3/base_pb.js";
import { DataSourceSchema } from "../../gen/envoy/config/core/v3/base_pb.js";
import { type Secret, SecretSchema } from "../../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { DataSource, ModelSecret } from "../model.js";

function dataSource(source: DataSource): EnvoyDataSource {
  return create(DataSourceSchema, {
    specifier:
      "inline" in source ? { case: "inlineString", value: source.inline } : { case: "filename", value: source.file },
  });
}

/** An SDS secret: a certificate and key, or a CA bundle for validating peers. */
export function buildSecret(secret: ModelSecret): Secret {
  if (secret.type === "tls") {
    return create(SecretSchema, {
      name: secret.name,
      type: {
        case: "tlsCertificate",
        value: { certificateChain: dataSource(secret.certificateChain), privateKey: dataSource(secret.privateKey) },
      },
    });
  }
  return create(SecretSchema, {
    name: secret.name,
    type: { case: "validationContext", value: { trustedCa: dataSource(secret.certificates) } },
  });
}
