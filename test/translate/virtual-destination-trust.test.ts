// A VirtualDestination carries its members' workloadTls and the AccessPolicies that select them, for
// Envoy and proxyless gRPC callers (read back from the served resources, which the validator passed).
import { fromBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { envoyRegistry, type XdsResource } from "../../src/envoy/index.js";
import { type Translation, Translator, translate } from "../../src/translate/index.js";
import { resources } from "./fixtures.js";

function json(resource: XdsResource): Record<string, unknown> {
  const typeName = resource.typeUrl.slice(resource.typeUrl.indexOf("/") + 1);
  const schema = envoyRegistry.getMessage(typeName);
  if (!schema) throw new Error(`no schema for ${typeName}`);
  return toJson(schema, fromBinary(schema, resource.value), { registry: envoyRegistry }) as Record<string, unknown>;
}

/** The group's resources of `type` (its own and its callers' clusters'), as JSON. */
function all(t: Translation, group: string, type: string): Record<string, unknown>[] {
  const g = t.groups.find((x) => x.name === group);
  if (!g) throw new Error(`no group ${group}`);
  const found = [...g.resources, ...[...(g.byCallerCluster?.values() ?? [])].flat()];
  return found.filter((r) => r.typeUrl.endsWith(`.${type}`)).map(json);
}

const vdCluster = "virtual:bank/ledger:50051";

function world(options: { westMode?: string; westPolicy?: boolean; members?: string[] } = {}): string {
  const members = options.members ?? ["east", "west"];
  const member = (cluster: string) => `apiVersion: gantry/v1
kind: Destination
metadata: { name: ledger-${cluster}, namespace: bank, labels: { app: ledger, at: ${cluster} }, clusters: [${cluster}] }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [{ address: 10.0.0.${members.indexOf(cluster) + 1} }]
  workloadTls: { mode: ${cluster === "west" ? (options.westMode ?? "MUTUAL") : "MUTUAL"}, serviceAccount: ledger-${cluster} }
---
`;
  return `apiVersion: gantry/v1
kind: Gateway
metadata: { name: sidecars, namespace: bank, clusters: [east, west] }
spec:
  proxies: { labels: { app: teller } }
  listeners: [{ name: outbound, port: 15001 }]
---
apiVersion: gantry/v1
kind: Gateway
metadata: { name: grpc, namespace: bank, clusters: [east, west] }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: teller-grpc } }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ledger, namespace: bank }
spec:
  hosts: [ledger.global]
  gateways: [{ name: sidecars }, { name: grpc }]
  http: [{ name: all, forwardTo: { destinations: [{ virtualDestination: { name: ledger } }] } }]
---
apiVersion: gantry/v1
kind: VirtualDestination
metadata: { name: ledger, namespace: bank }
spec:
  hosts: [ledger.global]
  ports: [{ number: 50051, protocol: GRPC }]
  destinationSelector: { labels: { app: ledger } }
---
apiVersion: gantry/v1
kind: AccessPolicy
metadata: { name: tellers, namespace: bank }
spec:
  destinations: [{ labels: { app: ledger${options.westPolicy ? ", at: east" : ""} } }]
  rules: [{ from: { namespaces: [bank] } }]
---
${members.map(member).join("")}`;
}

describe("a VirtualDestination's members' trust", () => {
  it("gives its callers the members' workload TLS: gRPC's provider `gantry`, Envoy's SDS, every member's identity", () => {
    const t = translate(resources(world()));
    const identities = ["spiffe://gantry.local/ns/bank/sa/ledger-east", "spiffe://gantry.local/ns/bank/sa/ledger-west"];
    const grpc = all(t, "bank/grpc", "Cluster").filter((c) => c["name"] === vdCluster);
    expect(grpc.length).toBeGreaterThan(0);
    for (const cluster of grpc) {
      const tls = (cluster["transportSocket"] as { typedConfig: Record<string, unknown> }).typedConfig;
      expect(tls["commonTlsContext"]).toEqual({
        tlsCertificateProviderInstance: { instanceName: "gantry" },
        validationContext: {
          caCertificateProviderInstance: { instanceName: "gantry" },
          matchSubjectAltNames: identities.map((exact) => ({ exact })),
        },
      });
    }
    const envoy = all(t, "bank/sidecars", "Cluster").filter((c) => c["name"] === vdCluster);
    expect(envoy.length).toBeGreaterThan(0);
    for (const cluster of envoy) {
      const text = JSON.stringify(cluster["transportSocket"]);
      expect(text).toContain('"tlsCertificateSdsSecretConfigs":[{"name":"default"');
      expect(text).toContain('"name":"ROOTCA"');
      for (const id of identities) expect(text).toContain(id);
    }
  });

  it("carries the members' AccessPolicies on Envoy routes to it", () => {
    const t = translate(resources(world()));
    const routes = JSON.stringify(all(t, "bank/sidecars", "RouteConfiguration"));
    expect(routes).toContain('"bank/tellers/rules[0]"');
    expect(routes).toContain('"prefix":"spiffe://gantry.local/ns/bank/sa/"');
    expect(t.statuses.get("AccessPolicy/bank/tellers")?.messages).toEqual([
      "applies to Destination/bank/ledger-east, Destination/bank/ledger-west",
    ]);
  });

  it("leaves out a member whose TLS mode differs from the first member's, and says so", () => {
    const t = translate(resources(world({ westMode: "DISABLE" })));
    expect(t.statuses.get("VirtualDestination/bank/ledger")?.messages).toContain(
      "spec.destinationSelector: Destination bank/ledger-west's spec.workloadTls mode is DISABLE, not MUTUAL as Destination bank/ledger-east's: callers use one TLS mode for every member; left out",
    );
    expect(JSON.stringify(all(t, "bank/grpc", "ClusterLoadAssignment"))).not.toContain("10.0.0.2");
  });

  it("refuses every request on a route whose members' policies differ (fails closed), with a warning", () => {
    const t = translate(resources(world({ westPolicy: true })));
    expect(t.statuses.get("RouteTable/bank/ledger")?.messages.join("\n")).toContain(
      "the members of its VirtualDestination (or its other destinations) have different AccessPolicies; the route refuses every request",
    );
    const routes = JSON.stringify(all(t, "bank/sidecars", "RouteConfiguration"));
    expect(routes).not.toContain('"bank/tellers/rules[0]"');
    expect(routes).toContain("gantry.access.allow");
  });

  it("a Destination that joins by its labels brings its policies to routes translated before", () => {
    const translator = new Translator();
    // The same objects again, and one more: what the server's store gives the translator.
    const first = resources(world({ westPolicy: true, members: ["east"] }));
    const west = resources(world({ westPolicy: true })).filter((r) => r.metadata.name === "ledger-west");
    const before = translator.translate(first);
    expect(JSON.stringify(all(before, "bank/sidecars", "RouteConfiguration"))).toContain('"bank/tellers/rules[0]"');
    const after = translator.translate([...first, ...west]);
    expect(JSON.stringify(all(after, "bank/sidecars", "RouteConfiguration"))).not.toContain('"bank/tellers/rules[0]"');
  });
});
