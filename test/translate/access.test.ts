// Workload TLS on destinations, GRPC_SERVER listeners and AccessPolicies, read back from the Envoy
// resources the translation serves (each already checked by the validator).
import { fromBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { defaultTrustDomain as clustersDefault } from "../../src/cluster/identity.js";
import { envoyRegistry, type XdsResource } from "../../src/envoy/index.js";
import { parseResources } from "../../src/resources/index.js";
import { applyWarnings } from "../../src/server/apply/warnings.js";
import { defaultServerListenerTemplate } from "../../src/server/bootstrap-grpc.js";
import {
  defaultTrustDomain,
  State,
  serverListenerName,
  type Translation,
  translate,
} from "../../src/translate/index.js";
import { resources } from "./fixtures.js";

/** A resource's JSON, as Envoy's protos spell it. */
function json(resource: XdsResource | undefined): Record<string, unknown> {
  if (!resource) throw new Error("no such resource");
  const typeName = resource.typeUrl.slice(resource.typeUrl.indexOf("/") + 1);
  const schema = envoyRegistry.getMessage(typeName);
  if (!schema) throw new Error(`no schema for ${typeName}`);
  return toJson(schema, fromBinary(schema, resource.value), { registry: envoyRegistry }) as Record<string, unknown>;
}

function find(t: Translation, group: string, type: string, name: string): XdsResource | undefined {
  return t.groups
    .find((g) => g.name === group)
    ?.resources.find((r) => r.typeUrl.endsWith(`.${type}`) && r.name === name);
}

const destination = (mode: string, extra = "") => `apiVersion: gantry/v1
kind: Destination
metadata: { name: greeter, namespace: shop, labels: { app: greeter } }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [{ address: 10.0.0.1 }]
  workloadTls: { mode: ${mode}${extra} }
---
`;

const callers = (kind: string) => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: callers, namespace: shop }
spec:
  kind: ${kind}
  proxies: { labels: { app: caller } }
  ${kind === "ENVOY" ? "listeners: [{ port: 8080 }]" : ""}
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: greeter, namespace: shop }
spec:
  hosts: [greeter.shop]
  gateways: [{ name: callers }]
  http: [{ name: all, forwardTo: { destinations: [{ destination: { name: greeter } }] } }]
---
`;

const servers = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: servers, namespace: shop }
spec:
  kind: GRPC_SERVER
  proxies: { labels: { app: greeter } }
  listeners: [{ port: 50051, destination: { name: greeter } }]
---
`;

const policy = (name: string, spec: string) => `apiVersion: gantry/v1
kind: AccessPolicy
metadata: { name: ${name}, namespace: shop }
spec:
${spec}
---
`;

interface FilterChainJson {
  filters: { typedConfig: Record<string, unknown> }[];
  transportSocket?: { typedConfig: Record<string, unknown> };
}

/** A listener's one filter chain. */
function chainOf(listener: Record<string, unknown>): FilterChainJson {
  const chain = (listener["filterChains"] as FilterChainJson[] | undefined)?.[0];
  if (!chain) throw new Error("no filter chain");
  return chain;
}

const serverListener = "grpc/server?xds.resource.listening_address=0.0.0.0:50051";

describe("workload TLS on a destination", () => {
  it("gives Envoy callers SDS default/ROOTCA and the server's SPIFFE ID as a URI SAN matcher", () => {
    const t = translate(resources(destination("MUTUAL") + callers("ENVOY")));
    const socket = json(find(t, "shop/callers", "Cluster", "shop/greeter:50051"))["transportSocket"] as {
      typedConfig: { commonTlsContext: Record<string, unknown> };
    };
    expect(socket.typedConfig.commonTlsContext).toEqual({
      tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: { ads: {}, resourceApiVersion: "V3" } }],
      combinedValidationContext: {
        defaultValidationContext: {
          matchTypedSubjectAltNames: [
            { sanType: "URI", matcher: { exact: "spiffe://gantry.local/ns/shop/sa/greeter" } },
          ],
        },
        validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: { ads: {}, resourceApiVersion: "V3" } },
      },
    });
  });

  it("gives proxyless gRPC callers the certificate provider `gantry` (SIMPLE: no client certificate)", () => {
    const explicit = ', serverIdentities: ["spiffe://other.td/ns/shop/sa/g2"], sni: greeter.shop';
    for (const [mode, extra, identity, own] of [
      ["MUTUAL", ", serviceAccount: greeter-sa", "spiffe://gantry.local/ns/shop/sa/greeter-sa", true],
      ["SIMPLE", explicit, "spiffe://other.td/ns/shop/sa/g2", false],
    ] as const) {
      const t = translate(resources(destination(mode, extra) + callers("GRPC_PROXYLESS")));
      const tls = (
        json(find(t, "shop/callers", "Cluster", "shop/greeter:50051"))["transportSocket"] as {
          typedConfig: Record<string, unknown>;
        }
      ).typedConfig;
      expect(tls["commonTlsContext"]).toEqual({
        ...(own ? { tlsCertificateProviderInstance: { instanceName: "gantry" } } : {}),
        validationContext: {
          caCertificateProviderInstance: { instanceName: "gantry" },
          matchSubjectAltNames: [{ exact: identity }],
        },
      });
    }
  });

  it("derives identities in the server's default trust domain unless given one", () => {
    expect(defaultTrustDomain).toBe(clustersDefault);
  });

  it("uses the trust domain it is given", () => {
    const t = translate(resources(destination("SIMPLE") + callers("ENVOY")), { trustDomain: "corp.example" });
    expect(JSON.stringify(json(find(t, "shop/callers", "Cluster", "shop/greeter:50051")))).toContain(
      "spiffe://corp.example/ns/shop/sa/greeter",
    );
  });

  it("DISABLE serves plaintext; with the user's own spec.tls it is refused, naming the field", () => {
    const plain = translate(resources(destination("DISABLE") + callers("ENVOY")));
    expect(json(find(plain, "shop/callers", "Cluster", "shop/greeter:50051"))["transportSocket"]).toBeUndefined();
    const both = translate(
      resources(
        destination("MUTUAL", "").replace("  workloadTls", '  tls: { sni: "x" }\n  workloadTls') + callers("ENVOY"),
      ),
    );
    const status = both.statuses.get("Destination/shop/greeter");
    expect(status?.state).toBe(State.INVALID);
    expect(status?.messages.join("\n")).toContain("spec.workloadTls: not together with spec.tls");
  });

  it("names a discovered Destination's server identity after its name in its cluster, not the stored one", () => {
    const discovered = destination("MUTUAL").replace(
      "name: greeter, namespace: shop, labels: { app: greeter }",
      "name: greeter.east, namespace: shop, labels: { app: greeter, gantry.io/discovered-name: greeter, gantry.io/cluster: east }",
    );
    const t = translate(
      resources(discovered + callers("GRPC_PROXYLESS").replace("name: greeter }", "name: greeter.east }")),
    );
    const cluster = JSON.stringify(json(find(t, "shop/callers", "Cluster", "shop/greeter.east:50051")));
    expect(cluster).toContain('"exact":"spiffe://gantry.local/ns/shop/sa/greeter"');
  });

  it("refuses server identities that are not SPIFFE IDs", () => {
    const t = translate(resources(destination("MUTUAL", ', serverIdentities: ["https://x"]') + callers("ENVOY")));
    expect(t.statuses.get("Destination/shop/greeter")?.messages).toContain(
      'spec.workloadTls.serverIdentities[0]: "https://x" is not a SPIFFE ID',
    );
  });
});

describe("GRPC_SERVER gateways", () => {
  it("name Listeners as the servers' bootstraps ask for them", () => {
    expect(serverListenerName("0.0.0.0", 50051)).toBe(defaultServerListenerTemplate.replace("%s", "0.0.0.0:50051"));
    expect(serverListenerName("::", 8443)).toBe(defaultServerListenerTemplate.replace("%s", "[::]:8443"));
  });

  it("serve the Listener gRPC servers ask for: their address, a non-forwarding route, mTLS required", () => {
    const t = translate(resources(destination("MUTUAL") + servers));
    const listener = json(find(t, "shop/servers", "Listener", serverListener));
    expect(listener["address"]).toEqual({ socketAddress: { address: "0.0.0.0", portValue: 50051 } });
    const chain = chainOf(listener);
    expect(chain.transportSocket?.typedConfig["requireClientCertificate"]).toBe(true);
    expect(chain.transportSocket?.typedConfig["commonTlsContext"]).toEqual({
      tlsCertificateProviderInstance: { instanceName: "gantry" },
      validationContext: { caCertificateProviderInstance: { instanceName: "gantry" } },
    });
    const hcm = chain.filters[0]?.typedConfig as { routeConfig: unknown; httpFilters: { name: string }[] };
    expect(hcm.routeConfig).toEqual({
      name: "shop/greeter/server",
      virtualHosts: [
        { name: "shop/greeter", domains: ["*"], routes: [{ match: { prefix: "" }, nonForwardingAction: {} }] },
      ],
    });
    expect(hcm.httpFilters.map((f) => f.name)).toEqual(["envoy.filters.http.router"]);
    expect(t.groups.find((g) => g.name === "shop/servers")?.kind).toBe("grpc-server");
  });

  it("serves plaintext for DISABLE and requires no client certificate for SIMPLE", () => {
    const plain = json(
      find(translate(resources(destination("DISABLE") + servers)), "shop/servers", "Listener", serverListener),
    );
    expect(chainOf(plain).transportSocket).toBeUndefined();
    const simple = json(
      find(translate(resources(destination("SIMPLE") + servers)), "shop/servers", "Listener", serverListener),
    );
    const tls = chainOf(simple).transportSocket?.typedConfig;
    expect(tls?.["requireClientCertificate"]).toBeUndefined();
    expect(tls?.["commonTlsContext"]).toEqual({ tlsCertificateProviderInstance: { instanceName: "gantry" } });
  });

  it("refuses a listener without a destination, or with TLS of its own, naming the field", () => {
    const bad = servers
      .replace("destination: { name: greeter }", "destination: { name: nowhere }")
      .replace("listeners: [", "listeners: [{ port: 50052, tls: { mode: MUTUAL } }, ");
    const t = translate(resources(destination("MUTUAL") + bad));
    expect(t.statuses.get("Gateway/shop/servers")?.messages).toEqual([
      "spec.listeners[0].tls: a gRPC server's TLS is its destination's spec.workloadTls",
      "spec.listeners[0].destination: required",
      "spec.listeners[1].destination: Destination shop/nowhere not found or invalid",
    ]);
    expect(t.groups.find((g) => g.name === "shop/servers")).toBeUndefined();
  });
});

describe("AccessPolicy", () => {
  const allowWeb = policy(
    "allow-web",
    `  destinations: [{ labels: { app: greeter } }]
  rules:
    - from: { identities: ["spiffe://gantry.local/ns/shop/sa/web"], namespaces: [front] }
      to: { paths: ["/helloworld.Greeter/*"] }
      when: [{ name: x-tenant, values: [a, b] }]`,
  );
  const denyBatch = policy("deny-batch", `  action: DENY\n  rules: [{ from: { clusters: [west] } }]`);

  it("becomes the gRPC server's RBAC filters, DENY before ALLOW, and its status lists its destinations", () => {
    const t = translate(resources(destination("MUTUAL") + servers + allowWeb + denyBatch));
    const listener = json(find(t, "shop/servers", "Listener", serverListener));
    const hcm = (chainOf(listener).filters[0]?.typedConfig ?? {}) as {
      httpFilters: { name: string; typedConfig: { rules: unknown } }[];
    };
    expect(hcm.httpFilters.map((f) => f.name)).toEqual([
      "gantry.access.deny",
      "gantry.access.allow",
      "envoy.filters.http.router",
    ]);
    expect(hcm.httpFilters[0]?.typedConfig.rules).toEqual({
      action: "DENY",
      policies: {
        "shop/deny-batch/rules[0]": {
          permissions: [{ any: true }],
          principals: [
            { orIds: { ids: [{ authenticated: { principalName: { exact: "spiffe://gantry.local/cluster/west" } } }] } },
          ],
        },
      },
    });
    expect(hcm.httpFilters[1]?.typedConfig.rules).toEqual({
      policies: {
        "shop/allow-web/rules[0]": {
          permissions: [
            {
              andRules: {
                rules: [
                  { orRules: { rules: [{ urlPath: { path: { prefix: "/helloworld.Greeter/" } } }] } },
                  {
                    orRules: {
                      rules: [
                        { header: { name: "x-tenant", stringMatch: { exact: "a" } } },
                        { header: { name: "x-tenant", stringMatch: { exact: "b" } } },
                      ],
                    },
                  },
                ],
              },
            },
          ],
          principals: [
            {
              andIds: {
                ids: [
                  {
                    orIds: {
                      ids: [{ authenticated: { principalName: { exact: "spiffe://gantry.local/ns/shop/sa/web" } } }],
                    },
                  },
                  {
                    orIds: {
                      ids: [{ authenticated: { principalName: { prefix: "spiffe://gantry.local/ns/front/sa/" } } }],
                    },
                  },
                ],
              },
            },
          ],
        },
      },
    });
    expect(t.statuses.get("AccessPolicy/shop/allow-web")).toEqual({
      state: State.ACCEPTED,
      messages: ["applies to Destination/shop/greeter"],
    });
  });

  it("applies per route on Envoy listeners, which carry both RBAC filters without rules", () => {
    const t = translate(resources(destination("MUTUAL") + callers("ENVOY") + allowWeb + denyBatch));
    const listener = JSON.stringify(json(find(t, "shop/callers", "Listener", "shop/callers/8080")));
    expect(listener).toContain('"name":"gantry.access.deny"');
    expect(listener).toContain('"name":"gantry.access.allow"');
    const routes = json(find(t, "shop/callers", "RouteConfiguration", "shop/callers/8080")) as {
      virtualHosts: { routes: { typedPerFilterConfig: Record<string, { rbac?: { rules: { action?: string } } }> }[] }[];
    };
    const perFilter = routes.virtualHosts[0]?.routes[0]?.typedPerFilterConfig ?? {};
    expect(perFilter["gantry.access.deny"]?.rbac?.rules.action).toBe("DENY");
    expect(Object.keys(perFilter["gantry.access.allow"]?.rbac?.rules ?? {})).toEqual(["policies"]);
    // A proxyless client has no RBAC filter: it is the server's to enforce.
    const grpc = translate(resources(destination("MUTUAL") + callers("GRPC_PROXYLESS") + allowWeb));
    expect(JSON.stringify(grpc.groups[0]?.resources.map((r) => json(r)))).not.toContain("gantry.access");
  });

  it("warns at apply about policies that lock everything out", () => {
    const cases = [
      [policy("nothing", "  rules: []"), "AccessPolicy/shop/nothing", "nothing is allowed"],
      [
        policy("all", "  action: DENY\n  rules: [{}]"),
        "AccessPolicy/shop/all",
        "rule shop/all/rules[0] denies every request",
      ],
      [
        policy("closed", "  defaultDeny: true\n  destinations: [{ labels: { none: x } }]"),
        "AccessPolicy/shop/closed",
        "nothing is allowed",
      ],
    ] as const;
    for (const [text, key, message] of cases) {
      const state = resources(destination("MUTUAL") + servers + text);
      const warnings = applyWarnings(state, translate(state)).get(key) ?? [];
      expect(warnings.join("\n"), key).toContain(`Destination shop/greeter: ${message}`);
    }
    const fine = resources(destination("MUTUAL") + servers + allowWeb);
    expect(applyWarnings(fine, translate(fine)).get("AccessPolicy/shop/allow-web")).toBeUndefined();
  });

  it("refuses bad fields with messages naming the file, resource and field", () => {
    const text = policy(
      "bad",
      `  destinations: [{ namespace: other }]
  action: DENY
  defaultDeny: true
  rules:
    - from: { identities: ["web"], namespaces: ["Bad_NS"] }
      to: { paths: ["no-slash"], methods: [get] }
      when: [{ name: grpc-timeout }]`,
    );
    const t = translate(resources(text));
    expect(t.statuses.get("AccessPolicy/shop/bad")?.messages).toEqual([
      "spec.destinations[0].namespace: an AccessPolicy applies in its own namespace (shop), not other",
      "spec.defaultDeny: set it on an ALLOW policy (it refuses what no ALLOW policy allows)",
      'spec.rules[0].from.identities[0]: "web" is not a SPIFFE ID (spiffe://<trust-domain>/<path>, a trailing * for a prefix)',
      'spec.rules[0].from.namespaces[0]: "Bad_NS" is not a namespace name',
      'spec.rules[0].to.paths[0]: "no-slash" must start with / (and may end with * for a prefix)',
      'spec.rules[0].to.methods[0]: "get" is not an HTTP method in upper case',
      'spec.rules[0].when[0].name: "grpc-timeout" cannot be matched (gRPC servers refuse grpc- headers and :scheme)',
    ]);
    const unknown = parseResources(policy("typo", "  rulez: []"), "policies.yaml");
    expect(unknown.rejected[0]?.errors.join("\n")).toMatch(/policies\.yaml:\d+: AccessPolicy shop\/typo: spec\.rulez/);
  });

  it("warns at apply that from.clusters matches no workload, and never matches beside identities or namespaces", () => {
    const alone = policy("by-cluster", `  rules: [{ from: { clusters: [east] } }]`);
    const mixed = policy(
      "mixed",
      `  action: DENY\n  rules: [{ from: { namespaces: [front] } }, { from: { identities: ["spiffe://gantry.local/ns/front/sa/web"], clusters: [east] } }]`,
    );
    const state = resources(destination("MUTUAL") + servers + alone + mixed);
    const t = translate(state);
    const warnings = applyWarnings(state, t);
    expect(warnings.get("AccessPolicy/shop/by-cluster")).toContain(
      "spec.rules[0].from.clusters: matches only callers presenting spiffe://gantry.local/cluster/east (a cluster's agent), never a workload running there: workload certificates name no cluster; to name workloads, use from.identities or from.namespaces",
    );
    expect(warnings.get("AccessPolicy/shop/mixed")).toContain(
      "spec.rules[1].from: clusters together with identities never matches (a caller's certificate carries one identity, and a workload's names no cluster): this rule denies nothing",
    );
    expect(t.statuses.get("AccessPolicy/shop/mixed")?.messages).not.toContainEqual(
      expect.stringMatching(/^spec\.rules\[0\]/),
    );
    // Still served as written: the warning is what changes.
    expect(t.statuses.get("AccessPolicy/shop/by-cluster")?.state).toBe(State.WARNING);
  });

  it("warns that gRPC servers see every call as POST", () => {
    const methods = policy("methods", `  rules: [{ to: { methods: [GET] } }]`);
    const t = translate(resources(destination("MUTUAL") + servers + methods));
    expect(t.statuses.get("AccessPolicy/shop/methods")?.messages).toContain(
      "spec.rules[0].to.methods: gRPC servers see every call as POST; only POST matches there",
    );
  });

  it("a route split between destinations with different policies refuses every request, and says so", () => {
    const other = destination("MUTUAL").replaceAll("greeter", "other").replace("app: other", "app: other");
    const split = callers("ENVOY").replace(
      "destinations: [{ destination: { name: greeter } }]",
      "destinations: [{ destination: { name: greeter }, weight: 50 }, { destination: { name: other }, weight: 50 }]",
    );
    const t = translate(resources(destination("MUTUAL") + other + split + allowWeb));
    expect(t.statuses.get("RouteTable/shop/greeter")?.messages.join("\n")).toContain(
      "its destinations have different AccessPolicies; the route refuses every request",
    );
    const routes = json(find(t, "shop/callers", "RouteConfiguration", "shop/callers/8080")) as {
      virtualHosts: { routes: { typedPerFilterConfig: Record<string, { rbac?: { rules: unknown } }> }[] }[];
    };
    expect(routes.virtualHosts[0]?.routes[0]?.typedPerFilterConfig["gantry.access.allow"]?.rbac?.rules).toEqual({});
  });
});
