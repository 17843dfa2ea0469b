import { describe, expect, it } from "vitest";
import { appliedPolicies, routeDestinations, routeTablesOf, Translator, translate } from "../../src/translate/index.js";
import { destination, gateway, resources } from "./fixtures.js";

// A root route table delegating to a child, two policies of one kind on one route, one of another.
const text = `${gateway()}${destination("d")}${destination("e")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: root }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
    - name: direct
      labels: { auth: "yes" }
      matchers: [{ prefix: /direct }]
      forwardTo: { destinations: [{ destination: { name: d } }] }
    - name: to-child
      labels: { zone: child }
      matchers: [{ prefix: /child }]
      delegate: { routeTables: [{ ref: { name: child } }] }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: child }
spec:
  http:
    - name: leaf
      matchers: [{ prefix: /child/leaf }]
      forwardTo: { destinations: [{ destination: { name: e } }] }
---
apiVersion: gantry/v1
kind: ExtAuthPolicy
metadata: { name: a-first }
spec:
  applyToRoutes: [{ route: { labels: { auth: "yes" } } }]
  disable: true
---
apiVersion: gantry/v1
kind: ExtAuthPolicy
metadata: { name: b-second }
spec:
  applyToRoutes: [{ route: { labels: { auth: "yes" } } }]
  disable: true
---
apiVersion: gantry/v1
kind: HeaderPolicy
metadata: { name: everywhere }
spec:
  applyToRoutes: [{ route: { labels: {} } }]
  responseHeadersToRemove: [server]
`;

describe("what a proxy group and its routes came from", () => {
  const translation = translate(resources(text));
  const group = translation.groups[0];
  const routes = group?.listeners.flatMap((l) => l.virtualHosts.flatMap((v) => v.routes)) ?? [];
  const route = (suffix: string) => routes.find((r) => r.name.endsWith(suffix));

  it("exposes the group's origins: route tables, destinations and applied policies", () => {
    expect(group?.name).toBe("default/gw");
    expect([...(group?.origins ?? [])].sort()).toEqual([
      "Destination/default/d",
      "Destination/default/e",
      "ExtAuthPolicy/default/a-first",
      "Gateway/default/gw",
      "HeaderPolicy/default/everywhere",
      "RouteTable/default/child",
      "RouteTable/default/root",
    ]);
  });

  it("exposes listeners, virtual hosts and routes", () => {
    expect(group?.listeners.map((l) => l.name)).toEqual(["8080"]);
    expect(group?.listeners[0]?.virtualHosts.map((v) => [v.name, v.domains])).toEqual([
      ["default/root", ["a.example.com"]],
    ]);
    expect(routes.map((r) => r.name).sort()).toEqual([
      "default/root/direct",
      "default/root/to-child > default/child/leaf",
    ]);
  });

  it("names the policies applied per route, leaving out one that lost to an earlier one of its kind", () => {
    const direct = route("/direct");
    expect(direct && appliedPolicies(direct)).toEqual([
      "ExtAuthPolicy/default/a-first",
      "HeaderPolicy/default/everywhere",
    ]);
    const leaf = route("/leaf");
    expect(leaf && appliedPolicies(leaf)).toEqual(["HeaderPolicy/default/everywhere"]);
  });

  it("names each route's destinations and the route tables it passes through, root first", () => {
    const leaf = route("/leaf");
    expect(leaf && routeDestinations(leaf)).toEqual(["Destination/default/e"]);
    expect(leaf && routeTablesOf(leaf)).toEqual(["RouteTable/default/root", "RouteTable/default/child"]);
    const direct = route("/direct");
    expect(direct && routeTablesOf(direct)).toEqual(["RouteTable/default/root"]);
  });

  it("keeps a rejected group's description while its resources stay the last good ones", () => {
    const translator = new Translator();
    const good = translator.translate(resources(text)).groups[0];
    // An empty header name passes the schema and fails Envoy's validation.
    const badLimit = `${text}---
apiVersion: gantry/v1
kind: RateLimitPolicy
metadata: { name: broken }
spec:
  applyToRoutes: [{ route: { labels: { auth: "yes" } } }]
  rateLimits: [{ actions: [{ requestHeaders: { headerName: "", descriptorKey: key } }] }]
`;
    const rejected = translator.translate(resources(badLimit)).groups[0];
    expect(rejected?.rejected?.length).toBeGreaterThan(0);
    expect(rejected?.resources).toEqual(good?.resources);
    expect(rejected?.origins.has("RateLimitPolicy/default/broken")).toBe(true);
    const direct = rejected?.listeners[0]?.virtualHosts[0]?.routes.find((r) => r.name.endsWith("/direct"));
    expect(direct && appliedPolicies(direct)).toContain("RateLimitPolicy/default/broken");
  });
});
