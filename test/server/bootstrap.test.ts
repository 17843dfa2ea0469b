import { readFileSync } from "node:fs";
import { createRegistry, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { envoyRegistry, validateMessage } from "../../src/envoy/index.js";
import { BootstrapSchema } from "../../src/gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import { ApiConfigSource_ApiType } from "../../src/gen/envoy/config/core/v3/config_source_pb.js";
import { OpenTelemetryConfigSchema } from "../../src/gen/envoy/config/trace/v3/opentelemetry_pb.js";
import { bootstrapToJson, bootstrapTypes, buildBootstrap } from "../../src/server/bootstrap.js";
import { runGantry } from "../support/cli.js";

const gantry = (...args: string[]) => runGantry(args, { timeoutMs: 15_000 });

/** Parses Envoy bootstrap YAML strictly against the Envoy protos: unknown fields and wrong types throw. */
function parseBootstrap(yaml: string) {
  return fromJson(BootstrapSchema, parse(yaml) as JsonValue, { registry: bootstrapTypes });
}

describe("Envoy bootstrap", () => {
  it("points Envoy at Gantry over delta ADS for LDS and CDS, with node id, role and labels", () => {
    const bootstrap = buildBootstrap({
      nodeId: "gw-1",
      role: "gateway",
      labels: { zone: "a", "gantry.dev/tier": "edge" },
      xdsHost: "gantry-server",
      xdsPort: 18000,
    });
    expect(bootstrap.node?.id).toBe("gw-1");
    expect(bootstrap.node?.cluster).toBe("gantry-gateway");
    expect(bootstrap.node?.metadata).toEqual({ role: "gateway", labels: { zone: "a", "gantry.dev/tier": "edge" } });
    const dynamic = bootstrap.dynamicResources;
    expect(dynamic?.adsConfig?.apiType).toBe(ApiConfigSource_ApiType.DELTA_GRPC);
    expect(dynamic?.ldsConfig?.configSourceSpecifier.case).toBe("ads");
    expect(dynamic?.cdsConfig?.configSourceSpecifier.case).toBe("ads");
    const cluster = bootstrap.staticResources?.clusters[0];
    expect(cluster?.name).toBe("gantry-xds");
    const endpoint = cluster?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
    expect(endpoint?.case === "endpoint" && endpoint.value.address?.address).toMatchObject({
      case: "socketAddress",
      value: { address: "gantry-server", portSpecifier: { case: "portValue", value: 18000 } },
    });
    // xDS needs HTTP/2 to the management server.
    const options = bootstrapToJson(bootstrap)["static_resources"] as { clusters: Array<Record<string, unknown>> };
    expect(JSON.stringify(options.clusters[0]?.["typed_extension_protocol_options"])).toContain(
      "http2_protocol_options",
    );
  });

  it("uses SotW ADS when asked, and the sidecar admin port by default", () => {
    const bootstrap = buildBootstrap({
      nodeId: "app-1",
      role: "sidecar",
      labels: {},
      xdsHost: "127.0.0.1",
      xdsPort: 18000,
      stateOfTheWorld: true,
    });
    expect(bootstrap.dynamicResources?.adsConfig?.apiType).toBe(ApiConfigSource_ApiType.GRPC);
    const admin = bootstrap.admin?.address?.address;
    expect(admin?.case === "socketAddress" && admin.value.portSpecifier).toEqual({ case: "portValue", value: 15000 });
  });

  it("with a tracing collector: Envoy's OpenTelemetry tracer and a cluster to the collector, valid against Envoy's rules", async () => {
    const result = await gantry(
      ...["bootstrap", "--node-id", "gw-1", "--role", "gateway", "--tracing-collector", "otel-collector:4317"],
    );
    expect(result.code, result.stderr).toBe(0);
    const bootstrap = parseBootstrap(result.stdout);
    const collector = bootstrap.staticResources?.clusters.find((c) => c.name === "gantry-otel-collector");
    const endpoint = collector?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
    expect(endpoint?.case === "endpoint" && endpoint.value.address?.address).toMatchObject({
      value: { address: "otel-collector", portSpecifier: { case: "portValue", value: 4317 } },
    });
    const http = bootstrap.tracing?.http;
    expect(http?.name).toBe("envoy.tracers.opentelemetry");
    const typed = http?.configType.case === "typedConfig" ? http.configType.value : undefined;
    const otel = typed && anyUnpack(typed, OpenTelemetryConfigSchema);
    expect(otel?.serviceName).toBe("gantry-gateway");
    expect(otel?.grpcService?.targetSpecifier).toEqual({
      case: "envoyGrpc",
      value: expect.objectContaining({ clusterName: "gantry-otel-collector" }),
    });
    const registry = createRegistry(envoyRegistry, bootstrapTypes);
    expect(validateMessage(BootstrapSchema, bootstrap, registry)).toEqual([]);
    const grpc = await gantry("bootstrap", "--format", "grpc", "--node-id", "c", "--tracing-collector", "x:4317");
    expect(grpc.stderr).toContain("--tracing-collector is for Envoy bootstraps");
  });

  it("rejects bad options, naming the option", () => {
    const base = { nodeId: "n", role: "gateway" as const, labels: {}, xdsHost: "h", xdsPort: 18000 };
    expect(() => buildBootstrap({ ...base, nodeId: " " })).toThrow(/--node-id: must not be empty/);
    expect(() => buildBootstrap({ ...base, labels: { "bad key!": "x" } })).toThrow(/--labels: "bad key!"/);
    expect(() => buildBootstrap({ ...base, xdsPort: 70000 })).toThrow(/70000 is not a port number/);
  });

  it("gantry bootstrap prints YAML that parses against the Envoy protos", async () => {
    const result = await gantry("bootstrap", "--node-id", "gw-7", "--role", "gateway", "--labels", "zone=b");
    expect(result.code).toBe(0);
    const bootstrap = parseBootstrap(result.stdout);
    expect(bootstrap.node?.id).toBe("gw-7");
    expect(bootstrap.node?.metadata).toEqual({ role: "gateway", labels: { zone: "b" } });
    const json = await gantry("bootstrap", "--node-id", "gw-7", "--role", "gateway", "-o", "json");
    expect(fromJson(BootstrapSchema, JSON.parse(json.stdout) as JsonValue, { registry: bootstrapTypes }).node?.id).toBe(
      "gw-7",
    );
  });

  it("gantry bootstrap explains bad flags", async () => {
    const noRole = await gantry("bootstrap", "--node-id", "x");
    expect(noRole.code).not.toBe(0);
    expect(noRole.stderr).toContain("--role");
    const badRole = await gantry("bootstrap", "--node-id", "x", "--role", "mesh");
    expect(badRole.stderr).toMatch(/--role.*mesh.*gateway, sidecar/s);
    const badAddress = await gantry("bootstrap", "--node-id", "x", "--role", "gateway", "--xds-address", "nohost");
    expect(badAddress.stderr).toContain('"nohost" is not host:port');
    const badLabels = await gantry("bootstrap", "--node-id", "x", "--role", "gateway", "--labels", "novalue");
    expect(badLabels.stderr).toContain('"novalue" is not key=value');
  });

  // Four `gantry` processes one after another: more than the default 30 s on a loaded machine.
  it("the committed envoy-configs are what gantry bootstrap prints for the local stack", {
    timeout: 90_000,
  }, async () => {
    for (const [file, args] of [
      [
        "gateway.yaml",
        [
          "--node-id",
          "gateway-1",
          "--role",
          "gateway",
          "--labels",
          "gateway=edge",
          "--xds-address",
          "gantry-server:18000",
        ],
      ],
      [
        "sidecar.yaml",
        [
          "--node-id",
          "sidecar-app-1",
          "--role",
          "sidecar",
          "--labels",
          "app=sample",
          "--xds-address",
          "gantry-server:18000",
        ],
      ],
      // West's Envoy takes its config from west's agent, not from the server.
      [
        "west-gateway.yaml",
        [
          ...["--node-id", "west-gateway-1", "--role", "gateway", "--labels", "gateway=west-edge", "--cluster", "west"],
          ...["--xds-address", "gantry-agent-west:18000"],
        ],
      ],
      // West's east-west gateway, from west's agent too.
      [
        "west-eastwest.yaml",
        [
          ...["--node-id", "west-eastwest-1", "--role", "gateway", "--labels", "gateway=west-east-west"],
          ...["--cluster", "west", "--xds-address", "gantry-agent-west:18000"],
        ],
      ],
    ] as const) {
      const committed = readFileSync(new URL(`../../envoy-configs/${file}`, import.meta.url), "utf8");
      const printed = await gantry(...["bootstrap", ...args, "--tracing-collector", "otel-collector:4317"]);
      expect(
        committed
          .split("\n")
          .filter((l) => !l.startsWith("#"))
          .join("\n"),
      ).toBe(printed.stdout);
      expect(parseBootstrap(committed).node?.id).toBe(args[1]);
    }
  });
});
