import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validateMessage } from "../../src/envoy/index.js";
import { BootstrapSchema } from "../../src/gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import { SubjectAltNameMatcher_SanType } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import {
  type UpstreamTlsContext,
  UpstreamTlsContextSchema,
} from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { bootstrapTypes, buildBootstrap } from "../../src/server/bootstrap.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { runGantry } from "../support/cli.js";

const gantry = (...args: string[]) => runGantry(args, { timeoutMs: 100_000 });
const base = { nodeId: "gw-1", role: "gateway" as const, labels: {}, xdsPort: 18000 };

function xdsTlsContext(bootstrap: ReturnType<typeof buildBootstrap>): UpstreamTlsContext | undefined {
  const socket = bootstrap.staticResources?.clusters[0]?.transportSocket;
  expect(socket?.name).toBe("envoy.transport_sockets.tls");
  const any = socket?.configType.case === "typedConfig" ? socket.configType.value : undefined;
  return any && anyUnpack(any, UpstreamTlsContextSchema);
}

describe("bootstraps for a TLS xDS port", () => {
  it("Envoy: the xDS cluster checks the server's chain and name, sends SNI and its client certificate", () => {
    const bootstrap = buildBootstrap({
      ...base,
      xdsHost: "gantry.internal",
      xdsTls: { caFile: "/etc/gantry/ca.pem", certFile: "/etc/envoy/tls.crt", keyFile: "/etc/envoy/tls.key" },
    });
    expect(validateMessage(BootstrapSchema, bootstrap)).toEqual([]);
    const context = xdsTlsContext(bootstrap);
    expect(context?.sni).toBe("gantry.internal");
    const common = context?.commonTlsContext;
    expect(common?.alpnProtocols).toEqual(["h2"]);
    expect(common?.tlsCertificates[0]?.certificateChain?.specifier).toEqual({
      case: "filename",
      value: "/etc/envoy/tls.crt",
    });
    expect(common?.tlsCertificates[0]?.privateKey?.specifier).toEqual({
      case: "filename",
      value: "/etc/envoy/tls.key",
    });
    const validation = common?.validationContextType;
    expect(validation?.case).toBe("validationContext");
    if (validation?.case !== "validationContext") return;
    expect(validation.value.trustedCa?.specifier).toEqual({ case: "filename", value: "/etc/gantry/ca.pem" });
    expect(validation.value.matchTypedSubjectAltNames.map((m) => [m.sanType, m.matcher?.matchPattern])).toEqual([
      [SubjectAltNameMatcher_SanType.DNS, { case: "exact", value: "gantry.internal" }],
    ]);
  });

  it("Envoy: an IP address is matched as an IP SAN and sent as no SNI; --xds-server-name overrides", () => {
    const byIp = xdsTlsContext(buildBootstrap({ ...base, xdsHost: "10.0.0.5", xdsTls: { caFile: "/ca.pem" } }));
    expect(byIp?.sni).toBe("");
    expect(byIp?.commonTlsContext?.tlsCertificates).toEqual([]);
    const validation = byIp?.commonTlsContext?.validationContextType;
    expect(validation?.case === "validationContext" && validation.value.matchTypedSubjectAltNames[0]?.sanType).toBe(
      SubjectAltNameMatcher_SanType.IP_ADDRESS,
    );
    const named = xdsTlsContext(
      buildBootstrap({ ...base, xdsHost: "10.0.0.5", xdsTls: { caFile: "/ca.pem", serverName: "xds.gantry" } }),
    );
    expect(named?.sni).toBe("xds.gantry");
  });

  it("Envoy: no transport socket without TLS, and half a client certificate is refused", () => {
    expect(buildBootstrap({ ...base, xdsHost: "h" }).staticResources?.clusters[0]?.transportSocket).toBeUndefined();
    expect(() => buildBootstrap({ ...base, xdsHost: "h", xdsTls: { caFile: "/ca.pem", certFile: "/c.pem" } })).toThrow(
      "--xds-cert-file: goes with --xds-key-file",
    );
  });

  it("gRPC: tls channel credentials (gRFC A65) with the files, and no insecure fallback", () => {
    const bootstrap = buildGrpcBootstrap({
      nodeId: "n",
      labels: {},
      xdsHost: "gantry.internal",
      xdsPort: 18000,
      xdsTls: { caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/k.pem" },
    });
    expect(bootstrap.xds_servers[0]?.channel_creds).toEqual([
      {
        type: "tls",
        config: { ca_certificate_file: "/ca.pem", certificate_file: "/c.pem", private_key_file: "/k.pem" },
      },
    ]);
  });

  // Four CLI runs at once: each starts a Node process, slow on a loaded machine.
  it("gantry bootstrap --xds-ca-file prints both formats, and refuses TLS flags without it", {
    timeout: 120_000,
  }, async () => {
    const [envoy, grpc, noCa, grpcName] = await Promise.all([
      gantry(
        ...["bootstrap", "--node-id", "gw", "--role", "gateway", "--xds-address", "gantry.internal:18000"],
        ...["--xds-ca-file", "/ca.pem", "--xds-cert-file", "/c.pem", "--xds-key-file", "/k.pem"],
      ),
      gantry("bootstrap", "--format", "grpc", "--node-id", "g", "--xds-ca-file", "/ca.pem"),
      gantry("bootstrap", "--node-id", "gw", "--role", "gateway", "--xds-cert-file", "/c.pem"),
      gantry(
        ...["bootstrap", "--format", "grpc", "--node-id", "g", "--xds-ca-file", "/ca.pem", "--xds-server-name", "x"],
      ),
    ]);
    expect(envoy.code).toBe(0);
    const parsed = fromJson(BootstrapSchema, parse(envoy.stdout) as JsonValue, { registry: bootstrapTypes });
    expect(xdsTlsContext(parsed)?.sni).toBe("gantry.internal");
    expect(JSON.parse(grpc.stdout).xds_servers[0].channel_creds).toEqual([
      { type: "tls", config: { ca_certificate_file: "/ca.pem" } },
    ]);
    expect(noCa.code).not.toBe(0);
    expect(noCa.stderr).toContain("--xds-cert-file needs --xds-ca-file");
    expect(grpcName.stderr).toContain("--xds-server-name is for Envoy bootstraps");
  });
});
