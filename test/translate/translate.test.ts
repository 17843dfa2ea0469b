import { describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import type { Resource } from "../../src/resources/index.js";
import { State, type Translation, Translator, translate } from "../../src/translate/index.js";
import { destination, gateway, resources } from "./fixtures.js";

const routeTable = (name: string, gw: string, host: string, prefix = "/") => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${name}, labels: { limited: "yes" } }
spec:
  hosts: [${host}]
  gateways: [{ name: ${gw} }]
  http:
    - name: main
      labels: { limited: "yes" }
      matchers: [{ prefix: "${prefix}" }]
      forwardTo: { destinations: [{ destination: { name: d } }] }
---
`;

const base = `${gateway("gw-a")}${gateway("gw-b")}${destination("d")}${routeTable("rt-a", "gw-a", "a.example.com")}${routeTable("rt-b", "gw-b", "b.example.com")}`;

/** name → version for every resource of every group. */
function versions(t: Translation): Map<string, string> {
  return new Map(t.groups.flatMap((g) => g.resources.map((r) => [`${g.name} ${r.typeUrl} ${r.name}`, r.version])));
}

function changed(before: Translation, after: Translation): string[] {
  const a = versions(before);
  const b = versions(after);
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
}

describe("translate", () => {
  it("is deterministic: same resources in any order give byte-identical resources", () => {
    const input = resources(base);
    const first = translate(input);
    const second = translate([...input].reverse());
    expect(first.groups.map((g) => g.name)).toEqual(["default/gw-a", "default/gw-b"]);
    expect(second.groups.length).toBe(2);
    first.groups.forEach((group, i) => {
      const other = second.groups[i];
      expect(other?.resources.map((r) => [r.typeUrl, r.name, r.version])).toEqual(
        group.resources.map((r) => [r.typeUrl, r.name, r.version]),
      );
      group.resources.forEach((r, j) => {
        expect(Buffer.from(other?.resources[j]?.value ?? []).equals(Buffer.from(r.value))).toBe(true);
      });
    });
  });

  it("a one-route change touches only that gateway's route configuration", () => {
    const translator = new Translator();
    const before = translator.translate(resources(base));
    const edited = base.replace(
      routeTable("rt-b", "gw-b", "b.example.com"),
      routeTable("rt-b", "gw-b", "b.example.com", "/v2"),
    );
    const after = translator.translate(resources(edited));
    expect(changed(before, after)).toEqual([`default/gw-b ${TypeUrl.route} default/gw-b/8080`]);
  });

  it("an endpoint change touches only the endpoints", () => {
    const before = translate(resources(base));
    const after = translate(resources(base.replace("address: 10.0.0.1", "address: 10.0.0.2")));
    expect(changed(before, after)).toEqual([
      `default/gw-a ${TypeUrl.endpoint} default/d:80`,
      `default/gw-b ${TypeUrl.endpoint} default/d:80`,
    ]);
  });

  it("keeps the last good resources when validation rejects a translation, and blames the cause", () => {
    const policy = (headerName: string) => `apiVersion: gantry/v1
kind: RateLimitPolicy
metadata: { name: per-key }
spec:
  applyToRoutes: [{ route: { labels: { limited: "yes" } } }]
  rateLimits:
    - actions: [{ requestHeaders: { headerName: "${headerName}", descriptorKey: key } }]
`;
    const translator = new Translator({ rateLimit: { host: "127.0.0.1", port: 8081 } });
    const good = translator.translate(resources(`${base}${policy("x-api-key")}`));
    expect(good.groups.every((g) => g.rejected === undefined)).toBe(true);

    const bad = translator.translate(resources(`${base}${policy("")}`));
    const groupA = bad.groups.find((g) => g.name === "default/gw-a");
    expect(groupA?.rejected).toContain(
      "RateLimitPolicy/default/per-key: route default/rt-a/main: route.rate_limits[0].actions[0].request_headers.header_name: must not be empty",
    );
    expect(groupA?.resources).toEqual(good.groups.find((g) => g.name === "default/gw-a")?.resources);
    expect(bad.statuses.get("RateLimitPolicy/default/per-key")?.state).toBe(State.INVALID);
    expect(bad.statuses.get("RouteTable/default/rt-a")?.state).toBe(State.INVALID);
    expect(bad.statuses.get("Gateway/default/gw-a")?.messages).toContain(
      "the proxies keep their last good configuration",
    );

    const fresh = translate(resources(`${base}${policy("")}`));
    expect(fresh.groups.find((g) => g.name === "default/gw-a")?.resources).toEqual([]);
  });

  it("serves only the clusters, endpoints and secrets a gateway's routes use", () => {
    const input: Resource[] = resources(`${base}${destination("unused", "10.9.9.9")}`);
    const group = translate(input).groups[0];
    expect(group?.resources.map((r) => `${r.typeUrl.split(".").pop()} ${r.name}`)).toEqual([
      "Cluster default/d:80",
      "ClusterLoadAssignment default/d:80",
      "Listener default/gw-a/8080",
      "RouteConfiguration default/gw-a/8080",
    ]);
  });
});

describe("Translator reuse", () => {
  const tree = `${gateway("gw")}${destination("d")}${destination("e", "10.0.0.9")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: root }
spec:
  hosts: [root.example.com]
  gateways: [{ name: gw }]
  http:
    - { name: api, labels: { zone: api }, matchers: [{ prefix: /api }], delegate: { routeTables: [{ labels: { team: x } }] } }
    - { name: rest, forwardTo: { destinations: [{ destination: { name: d } }] } }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: child-1, labels: { team: x } }
spec:
  http:
    - { name: one, matchers: [{ prefix: /api/one }], forwardTo: { destinations: [{ destination: { name: e } }] } }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: untouched }
spec:
  hosts: [other.example.com]
  gateways: [{ name: gw }]
  http:
    - { name: all, labels: { zone: api }, forwardTo: { destinations: [{ destination: { name: d } }] } }
---
apiVersion: gantry/v1
kind: HeaderPolicy
metadata: { name: h }
spec:
  applyToRoutes: [{ route: { labels: { zone: api } } }]
  requestHeadersToRemove: [x-a]
---
`;
  const child2 = `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: child-2, labels: { team: x } }
spec:
  http:
    - { name: two, matchers: [{ prefix: /api/two }], forwardTo: { destinations: [{ destination: { name: d } }] } }
---
`;

  /** Replaces resources by key in `base`, keeping every other object as it was (as a store does). */
  function edit(base: Resource[], text: string, remove: string[] = []): Resource[] {
    const replacements = resources(text);
    const key = (r: Resource) => `${r.kind}/${r.metadata.name}`;
    const byKey = new Map(replacements.map((r) => [key(r), r]));
    const kept = base.filter((r) => !remove.includes(key(r))).map((r) => byKey.get(key(r)) ?? r);
    const added = replacements.filter((r) => !base.some((b) => key(b) === key(r)));
    return [...kept, ...added];
  }

  const cases: [string, (base: Resource[]) => Resource[]][] = [
    ["a delegated child changes", (b) => edit(b, tree.replace("/api/one", "/api/uno"))],
    ["a destination a child uses changes", (b) => edit(b, destination("e", "10.0.0.10"))],
    ["a new child is selected by label", (b) => edit(b, child2)],
    ["a policy changes", (b) => edit(b, tree.replace("[x-a]", "[x-b]"))],
    ["a destination disappears", (b) => edit(b, "", ["Destination/e"])],
    ["a child disappears", (b) => edit(b, "", ["RouteTable/child-1"])],
  ];

  for (const [what, change] of cases) {
    it(`gives what a fresh translation gives when ${what}`, () => {
      const base = resources(tree);
      const translator = new Translator();
      translator.translate(base);
      const next = change(base);
      expect(
        next.filter((r) => !base.includes(r)).length + base.filter((r) => !next.includes(r)).length,
      ).toBeGreaterThan(0);
      const reused = translator.translate(next);
      const fresh = translate(next);
      expect(reused.groups).toEqual(fresh.groups);
      expect(reused.statuses).toEqual(fresh.statuses);
      expect(changed(translate(base), reused).length).toBeGreaterThan(0);
    });
  }
});
