import { describe, expect, it } from "vitest";
import { TypeUrl, type XdsResource } from "../../src/envoy/index.js";
import { loadResources } from "../../src/resources/index.js";
import { type DescribeInput, describeResource } from "../../src/server/describe.js";
import { translate } from "../../src/translate/index.js";
import type { ClientResourceStatus } from "../../src/xds/index.js";

const examples = new URL("../../examples/features/", import.meta.url).pathname;
const loaded = await loadResources([`${examples}policies.yaml`, `${examples}tls.yaml`]);
if (loaded.rejected.length > 0) throw new Error(loaded.rejected.flatMap((r) => r.errors).join("\n"));
const translation = translate(loaded.resources);
const policiesListener = translation.groups.find((g) => g.name === "policies/public")?.listeners[0]?.name;
const groupResources = (name: string) => translation.groups.find((g) => g.name === name)?.resources ?? [];

/** The ACK ledger's rows for a client subscribing to `resources`, in sync unless `state` says otherwise. */
function rows(
  nodeId: string,
  resources: readonly XdsResource[],
  state: (r: XdsResource) => Partial<ClientResourceStatus> = () => ({}),
): ClientResourceStatus[] {
  return resources.map((r) => ({
    nodeId,
    typeUrl: r.typeUrl,
    name: r.name,
    state: "in-sync",
    version: r.version,
    clientVersion: r.version,
    sent: false,
    error: "",
    since: undefined,
    streams: 1,
    ...state(r),
  }));
}

/** gw-tls runs its listeners, waits for a route configuration and refused its server certificate. */
function tlsState(r: XdsResource): Partial<ClientResourceStatus> {
  if (r.typeUrl === TypeUrl.route) return { state: "pending", clientVersion: "old", sent: true, since: 200 };
  if (r.typeUrl === TypeUrl.secret && r.name === "tls/example-com") {
    return { state: "nacked", clientVersion: "old", sent: true, error: "bad certificate", since: 205 };
  }
  return {};
}

function input(overrides: Partial<DescribeInput> = {}): DescribeInput {
  return {
    groups: translation.groups,
    rateLimits: translation.rateLimits,
    authConfigs: translation.authConfigs,
    rateLimitConfigs: translation.rateLimitConfigs,
    clients: [
      { nodeId: "elsewhere", metadata: { labels: { gateway: "nowhere" } }, streams: ["ads-delta"], lastNackError: "" },
      { nodeId: "extauth-1", metadata: { role: "extauth" }, streams: ["ads-sotw"], lastNackError: "" },
      {
        nodeId: "gw-policies",
        metadata: { role: "gateway", labels: { gateway: "policies" } },
        streams: ["ads-delta"],
        lastNackError: "",
      },
      {
        nodeId: "gw-tls",
        metadata: { labels: { gateway: "tls" } },
        streams: ["ads-sotw", "ads-delta"],
        lastNackError: "Secret: bad certificate",
      },
      { nodeId: "ratelimit-1", metadata: { role: "ratelimit" }, streams: ["ads-sotw"], lastNackError: "" },
    ],
    acks: [
      ...rows("extauth-1", translation.authConfigs),
      ...rows("gw-policies", groupResources("policies/public")),
      ...rows("gw-tls", groupResources("tls/secure"), tlsState),
      ...rows("ratelimit-1", translation.rateLimitConfigs),
    ],
    ...overrides,
  };
}

const refs = (list: { kind: string; namespace: string; name: string }[]) =>
  list.map((r) => `${r.kind}/${r.namespace}/${r.name}`);

describe("describe: a resource's place in the published translation", () => {
  it("a gateway: the proxies it selects, with their ACK state, its route tables, routes and policies", () => {
    const d = describeResource("Gateway", "policies", "public", input());
    expect(d.servedBy.map((p) => [p.nodeId, p.role, p.gateways, p.acked])).toEqual([
      ["gw-policies", "proxy", ["policies/public"], true],
    ]);
    expect(refs(d.gateways)).toEqual(["Gateway/policies/public"]);
    expect(refs(d.routeTables)).toEqual(["RouteTable/policies/store"]);
    expect(refs(d.policies)).toEqual([
      "CORSPolicy/policies/web-app",
      "ExtAuthPolicy/policies/open-assets",
      "ExtAuthPolicy/policies/require-login",
      "FaultInjectionPolicy/policies/chaos",
      "HeaderPolicy/policies/security-headers",
      "RateLimitPolicy/policies/per-client",
      "RetryTimeoutPolicy/policies/retry-flaky",
    ]);
    expect(d.routes.map((r) => [r.name, r.listener, r.hosts, r.match])).toEqual([
      ["policies/store/account", "10080", ["store.example.com"], "prefix /account"],
      ["policies/store/checkout", "10080", ["store.example.com"], "prefix /checkout"],
      ["policies/store/public-assets", "10080", ["store.example.com"], "prefix /assets"],
    ]);
  });

  it("a route table: per route, the policies attached and what each sets", () => {
    const d = describeResource("RouteTable", "policies", "store", input());
    expect(refs(d.gateways)).toEqual(["Gateway/policies/public"]);
    const account = d.routes.find((r) => r.name === "policies/store/account");
    expect(account?.action).toBe("forward policies/store:8080");
    expect(refs(account?.destinations ?? [])).toEqual(["Destination/policies/store"]);
    expect(account?.policies.map((p) => `${p.policy.kind}/${p.policy.name}: ${p.effect}`)).toEqual([
      "ExtAuthPolicy/require-login: auth config policies/users",
      "HeaderPolicy/security-headers: headers",
      "RateLimitPolicy/per-client: rate limit domain store, 2 descriptor(s)",
    ]);
    const checkout = d.routes.find((r) => r.name === "policies/store/checkout");
    expect(checkout?.policies.map((p) => p.effect)).toContain("retry 3× on 5xx,connect-failure; timeout 5s");
    expect(checkout?.policies.map((p) => p.effect)).toContain("abort 503 at 1.5%; delay 200ms at 10%");
    const assets = d.routes.find((r) => r.name === "policies/store/public-assets");
    expect(assets?.policies.map((p) => p.effect)).toContain("ext-auth disabled");
    expect(assets?.policies.map((p) => p.effect)).toContain(
      "CORS for https://app.example.com, https://.*\\.preview\\.example\\.com",
    );
  });

  it("a policy: the routes and gateways it attaches to, and the proxies that get it", () => {
    const d = describeResource("ExtAuthPolicy", "policies", "require-login", input());
    expect(d.routes.map((r) => r.name)).toEqual(["policies/store/account", "policies/store/checkout"]);
    expect(refs(d.gateways)).toEqual(["Gateway/policies/public"]);
    expect(refs(d.routeTables)).toEqual(["RouteTable/policies/store"]);
    expect(d.policies).toEqual([]);
    expect(d.servedBy.map((p) => p.nodeId)).toEqual(["gw-policies"]);
  });

  it("an AuthConfig: the routes checked with it, the ExtAuthPolicies naming it, and the ext-auth servers fed it", () => {
    const d = describeResource("AuthConfig", "policies", "users", input());
    expect(d.authConfigId).toBe("policies/users");
    expect(d.routes.map((r) => r.name)).toEqual(["policies/store/account", "policies/store/checkout"]);
    expect(refs(d.policies)).toEqual(["ExtAuthPolicy/policies/require-login"]);
    expect(d.servedBy.map((p) => [p.nodeId, p.role])).toEqual([
      ["extauth-1", "extauth"],
      ["gw-policies", "proxy"],
    ]);
    const unpublished = describeResource("AuthConfig", "policies", "users", input({ authConfigs: [] }));
    expect(unpublished.servedBy.map((p) => p.nodeId)).toEqual(["gw-policies"]);
  });

  it("a RateLimitPolicy: its domain, and rate-limit servers only while the domain is published", () => {
    const d = describeResource("RateLimitPolicy", "policies", "per-client", input());
    expect(d.rateLimitDomain).toBe("store");
    expect(d.routes.map((r) => r.name)).toEqual(["policies/store/account"]);
    expect(d.servedBy.map((p) => p.nodeId)).toEqual(["gw-policies", "ratelimit-1"]);
    const held = describeResource("RateLimitPolicy", "policies", "per-client", input({ rateLimitConfigs: [] }));
    expect(held.servedBy.map((p) => p.nodeId)).toEqual(["gw-policies"]);
  });

  it("a destination: the routes sending traffic to it, its clusters and the proxies that get them", () => {
    const d = describeResource("Destination", "policies", "store", input());
    expect(d.clusters).toEqual(["policies/store:8080"]);
    expect(d.routes).toHaveLength(3);
    expect(refs(d.routeTables)).toEqual(["RouteTable/policies/store"]);
    expect(d.policies.length).toBe(7);
    expect(d.servedBy.map((p) => p.nodeId)).toEqual(["gw-policies"]);
  });

  it("a secret: the proxy that NACKed it is not ACKed, with the error; only its own xDS resource counts", () => {
    const d = describeResource("Secret", "tls", "example-com", input());
    expect(refs(d.gateways)).toEqual(["Gateway/tls/secure"]);
    expect(d.routes).toEqual([]);
    expect(d.servedBy).toEqual([
      {
        nodeId: "gw-tls",
        role: "proxy",
        stream: "ads-delta,ads-sotw",
        gateways: ["tls/secure"],
        acked: false,
        pendingTypes: [TypeUrl.secret],
        lastNackError: "Secret: bad certificate",
      },
    ]);
    expect(
      d.envoyResources.map((r) => [r.name, r.gateways, r.clients.map((c) => [c.nodeId, c.state, c.error])]),
    ).toEqual([["tls/example-com", ["tls/secure"], [["gw-tls", "nacked", "bad certificate"]]]]);
    // The route configuration gw-tls waits for is not made from the CA secret: it is in sync on it.
    const ca = describeResource("Secret", "tls", "clients-ca", input());
    expect(refs(ca.gateways)).toEqual(["Gateway/tls/secure"]);
    // Its last NACK stays visible after later ACKs.
    expect(ca.servedBy.map((p) => [p.nodeId, p.acked, p.lastNackError])).toEqual([
      ["gw-tls", true, "Secret: bad certificate"],
    ]);
  });

  it("the xDS resources a resource produced, each with the clients subscribing to it", () => {
    const gateway = describeResource("Gateway", "tls", "secure", input());
    expect(gateway.envoyResources.map((r) => r.typeUrl)).toEqual(
      groupResources("tls/secure")
        .map((r) => r.typeUrl)
        .sort(),
    );
    const table = describeResource("RouteTable", "policies", "store", input());
    expect(table.envoyResources.map((r) => [r.typeUrl, r.name, r.clients.map((c) => c.nodeId)])).toEqual([
      // One route configuration per listener, named `gateway/listener`.
      [TypeUrl.route, `policies/public/${policiesListener}`, ["gw-policies"]],
    ]);
    const destination = describeResource("Destination", "policies", "store", input());
    expect(destination.envoyResources.map((r) => [r.typeUrl, r.name])).toEqual([
      [TypeUrl.cluster, "policies/store:8080"],
      [TypeUrl.endpoint, "policies/store:8080"],
    ]);
    const auth = describeResource("AuthConfig", "policies", "users", input());
    expect(auth.envoyResources.map((r) => [r.name, r.gateways, r.clients.map((c) => c.nodeId)])).toContainEqual([
      "policies/users",
      [],
      ["extauth-1"],
    ]);
  });

  it("a resource no gateway uses, or none translated yet: nothing attached, nobody served", () => {
    const d = describeResource("Destination", "policies", "missing", input());
    expect(d).toEqual({
      servedBy: [],
      gateways: [],
      routeTables: [],
      policies: [],
      routes: [],
      clusters: [],
      rateLimitDomain: "",
      authConfigId: "",
      envoyResources: [],
    });
    const before = describeResource("Gateway", "policies", "public", input({ groups: [] }));
    expect(before.servedBy).toEqual([]);
  });
});
