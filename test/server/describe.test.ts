import { describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import { loadResources } from "../../src/resources/index.js";
import {
  type ConnectedProxy,
  type DescribeInput,
  describeResource,
  type ProxyTypeState,
  typeIsCurrent,
} from "../../src/server/describe.js";
import { translate } from "../../src/translate/index.js";

const examples = new URL("../../examples/features/", import.meta.url).pathname;
const loaded = await loadResources([`${examples}policies.yaml`, `${examples}tls.yaml`]);
if (loaded.rejected.length > 0) throw new Error(loaded.rejected.flatMap((r) => r.errors).join("\n"));
const translation = translate(loaded.resources);

/** A type the proxy runs: the last response, sent after the last change, was ACKed. */
const current = (typeUrl: string): ProxyTypeState => ({
  typeUrl,
  sent: { nonce: "2", at: 200 },
  acked: { nonce: "2", at: 210 },
  changedAt: 150,
  held: 1,
});

const proxy = (nodeId: string, metadata: ConnectedProxy["metadata"], types = [current(TypeUrl.listener)]) => ({
  nodeId,
  metadata,
  stream: "ads-delta",
  types,
});

function input(overrides: Partial<DescribeInput> = {}): DescribeInput {
  return {
    groups: translation.groups,
    rateLimits: translation.rateLimits,
    publishedAuthConfigs: new Set(translation.authConfigIds),
    publishedDomains: new Set(translation.rateLimits.map((r) => r.domain)),
    proxies: [
      proxy("gw-policies", { role: "gateway", labels: { gateway: "policies" } }),
      proxy("gw-tls", { labels: { gateway: "tls" } }, [
        current(TypeUrl.listener),
        {
          ...current(TypeUrl.route),
          acked: { nonce: "1", at: 100 },
          lastNack: { error: "an older refusal", nonce: "0", at: 90 },
        },
        {
          ...current(TypeUrl.cluster),
          acked: { nonce: "1", at: 100 },
          lastNack: { error: "bad cluster", nonce: "2", at: 205 },
        },
      ]),
      proxy("elsewhere", { labels: { gateway: "nowhere" } }),
      proxy("extauth-1", { role: "extauth" }),
      proxy("ratelimit-1", { role: "ratelimit" }),
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
    const unpublished = describeResource("AuthConfig", "policies", "users", input({ publishedAuthConfigs: new Set() }));
    expect(unpublished.servedBy.map((p) => p.nodeId)).toEqual(["gw-policies"]);
  });

  it("a RateLimitPolicy: its domain, and rate-limit servers only while the domain is published", () => {
    const d = describeResource("RateLimitPolicy", "policies", "per-client", input());
    expect(d.rateLimitDomain).toBe("store");
    expect(d.routes.map((r) => r.name)).toEqual(["policies/store/account"]);
    expect(d.servedBy.map((p) => p.nodeId)).toEqual(["gw-policies", "ratelimit-1"]);
    const held = describeResource("RateLimitPolicy", "policies", "per-client", input({ publishedDomains: new Set() }));
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

  it("a secret: the gateways serving it; a proxy behind on some types is not ACKed, says which, and its latest NACK", () => {
    const d = describeResource("Secret", "tls", "example-com", input());
    expect(refs(d.gateways)).toEqual(["Gateway/tls/secure"]);
    expect(d.routes).toEqual([]);
    expect(d.servedBy).toEqual([
      {
        nodeId: "gw-tls",
        role: "proxy",
        stream: "ads-delta",
        gateways: ["tls/secure"],
        acked: false,
        pendingTypes: [TypeUrl.cluster, TypeUrl.route],
        lastNackError: "Cluster: bad cluster",
      },
    ]);
    const ca = describeResource("Secret", "tls", "clients-ca", input());
    expect(refs(ca.gateways)).toEqual(["Gateway/tls/secure"]);
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
    });
    const before = describeResource("Gateway", "policies", "public", input({ groups: [] }));
    expect(before.servedBy).toEqual([]);
  });
});

describe("typeIsCurrent: whether a proxy runs a type's current contents", () => {
  const base = current(TypeUrl.route);
  it("is when the last response, sent after the last change, was ACKed", () => {
    expect(typeIsCurrent(base)).toBe(true);
  });
  it("is not while the last response awaits its ACK, or was NACKed", () => {
    expect(typeIsCurrent({ ...base, acked: { nonce: "1", at: 100 } })).toBe(false);
    const { acked: _acked, ...unacked } = base;
    expect(typeIsCurrent({ ...unacked, lastNack: { error: "no", nonce: "2", at: 205 } })).toBe(false);
  });
  it("is not when the type changed after the last response (its update is not sent yet)", () => {
    expect(typeIsCurrent({ ...base, changedAt: 201 })).toBe(false);
  });
  it("for a type never sent: only while the snapshot holds nothing of it", () => {
    const { sent: _sent, acked: _acked, ...unsent } = base;
    expect(typeIsCurrent({ ...unsent, held: 0 })).toBe(true);
    expect(typeIsCurrent({ ...unsent, held: 2 })).toBe(false);
  });
});
