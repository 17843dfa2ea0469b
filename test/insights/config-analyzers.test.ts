import { describe, expect, it } from "vitest";
import { costlyRegexReason } from "../../src/insights/analyzers/config-policies.js";
import { analyzeConfig, codeInfo, type Finding, translateForAnalysis } from "../../src/insights/index.js";
import { parseResources } from "../../src/resources/index.js";
import { destination, gateway } from "../translate/fixtures.js";

function analyze(yaml: string): Finding[] {
  const parsed = parseResources(yaml, "test.yaml");
  return analyzeConfig(translateForAnalysis(parsed.resources, parsed.rejected));
}

function codes(findings: readonly Finding[]): string[] {
  return findings.map((f) => f.code).sort();
}

const routes = (http: string, name = "rt") => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${name} }
spec:
  hosts: [example.com]
  gateways: [{ name: gw }]
  http:
${http}
---
`;

const timed = "        timeout: 5s";

describe("configuration analyzers", () => {
  it("finds nothing in a clean configuration", () => {
    const yaml =
      gateway() +
      destination("web") +
      routes(`    - name: all
      forwardTo:
        destinations: [{ destination: { name: web } }]
${timed}`);
    expect(analyze(yaml)).toEqual([]);
  });

  it("GTY0101: a route to a missing destination names the field and the target", () => {
    const yaml =
      gateway() +
      routes(`    - name: all
      forwardTo:
        destinations: [{ destination: { name: nope } }]
${timed}`);
    const found = analyze(yaml).filter((f) => f.code === "GTY0101");
    expect(found).toHaveLength(1);
    expect(found[0]?.targets).toEqual([
      { kind: "RouteTable", namespace: "default", name: "rt" },
      { kind: "Destination", namespace: "default", name: "nope" },
    ]);
    expect(found[0]?.evidence["field"]).toBe("spec.http[0].forwardTo.destinations[0].destination");
  });

  it("GTY0102: a policy whose selector matches no route", () => {
    const yaml =
      gateway() +
      destination("web") +
      routes(`    - name: all
      forwardTo:
        destinations: [{ destination: { name: web } }]
${timed}`) +
      `apiVersion: gantry/v1
kind: HeaderPolicy
metadata: { name: hp }
spec:
  applyToRoutes: [{ route: { labels: { team: nobody } } }]
  requestHeadersToAdd: [{ name: x-a, value: b }]
`;
    const found = analyze(yaml).filter((f) => f.code === "GTY0102");
    expect(found.map((f) => f.targets[0])).toEqual([{ kind: "HeaderPolicy", namespace: "default", name: "hp" }]);
  });

  it("GTY0103: a route whose match an earlier route covers is shadowed", () => {
    const yaml =
      gateway() +
      destination("web") +
      routes(`    - name: first
      matchers: [{ prefix: /api }]
      forwardTo:
        destinations: [{ destination: { name: web } }]
${timed}
    - name: second
      matchers: [{ prefix: /api }]
      directResponse: { status: 200 }`);
    const shadowed = analyze(yaml).filter((f) => f.code === "GTY0103");
    expect(shadowed).toHaveLength(1);
    expect(shadowed[0]?.args["route"]).toBe("default/rt/second");
    expect(shadowed[0]?.args["by"]).toBe("default/rt/first");
  });

  it("GTY0104: two policies of one kind on one route", () => {
    const policy = (name: string) => `apiVersion: gantry/v1
kind: CORSPolicy
metadata: { name: ${name} }
spec:
  applyToRoutes: [{ route: { labels: { app: web } } }]
  allowOrigins: [https://a.example]
---
`;
    const yaml =
      gateway() +
      destination("web") +
      routes(`    - name: all
      labels: { app: web }
      forwardTo:
        destinations: [{ destination: { name: web } }]
${timed}`) +
      policy("a") +
      policy("b");
    const found = analyze(yaml).filter((f) => f.code === "GTY0104");
    expect(found).toHaveLength(1);
    expect(found[0]?.args["route"]).toBe("default/rt/all");
    expect(found[0]?.args["holder"]).toBe("another CORSPolicy");
  });

  it("GTY0104: a RateLimitPolicy on a route whose rate limit an ApiProduct holds names the product", () => {
    const yaml =
      gateway() +
      destination("web") +
      routes(`    - name: all
      labels: { app: web }
      forwardTo:
        destinations: [{ destination: { name: web } }]
${timed}`) +
      `apiVersion: gantry/v1
kind: UsagePlan
metadata: { name: free }
spec: { limits: { perSecond: 1 } }
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: shop }
spec: { routeTables: [{ name: rt }], usagePlans: [{ name: free }] }
---
apiVersion: gantry/v1
kind: RateLimitPolicy
metadata: { name: per-ip }
spec:
  applyToRoutes: [{ route: { labels: { app: web } } }]
  rateLimits: [{ actions: [{ remoteAddress: {} }] }]
  descriptors: [{ key: remote_address, rateLimit: { unit: SECOND, requestsPerUnit: 10 } }]
---
`;
    const found = analyze(yaml).filter((f) => f.code === "GTY0104");
    expect(found.map((f) => f.args)).toEqual([
      { kind: "RateLimitPolicy", name: "default/per-ip", route: "default/rt/all", holder: "ApiProduct default/shop" },
    ]);
  });

  it("GTY0105: costly regexes, and plain ones are not", () => {
    expect(costlyRegexReason("/api/v[0-9]+/users")).toBeUndefined();
    expect(costlyRegexReason(".*foo")).toMatch(/wildcard/);
    expect(costlyRegexReason("(a+)+b")).toMatch(/nests/);
    expect(costlyRegexReason("(?!x)")).toBeUndefined(); // invalid RE2 is GTY0109's
    const yaml =
      gateway() +
      routes(`    - name: slow
      matchers: [{ regex: ".*/users/[0-9]+" }]
      directResponse: { status: 200 }`);
    const found = analyze(yaml).filter((f) => f.code === "GTY0105");
    expect(found).toHaveLength(1);
    expect(found[0]?.evidence["pattern"]).toBe(".*/users/[0-9]+");
    expect(found[0]?.subject).toBe("spec.http[0].matchers[0].regex");
  });

  it("GTY0106 and GTY0107: disabled and default timeouts", () => {
    const yaml =
      gateway() +
      destination("web") +
      routes(`    - name: off
      matchers: [{ prefix: /off }]
      forwardTo:
        destinations: [{ destination: { name: web } }]
        timeout: 0s
    - name: unset
      matchers: [{ prefix: /unset }]
      forwardTo:
        destinations: [{ destination: { name: web } }]`);
    const found = analyze(yaml).filter((f) => f.code === "GTY0106" || f.code === "GTY0107");
    expect(found.map((f) => [f.code, f.subject])).toEqual(
      expect.arrayContaining([
        ["GTY0106", "default/rt/off"],
        ["GTY0107", "default/rt/unset"],
      ]),
    );
  });

  it("GTY0108: a destination no route uses", () => {
    const yaml =
      gateway() +
      destination("web") +
      destination("old") +
      routes(`    - name: all
      forwardTo:
        destinations: [{ destination: { name: web } }]
${timed}`);
    expect(
      analyze(yaml)
        .filter((f) => f.code === "GTY0108")
        .map((f) => f.targets[0]?.name),
    ).toEqual(["old"]);
  });

  it("GTY0108: not for a destination whose gRPC servers a GRPC_SERVER gateway serves", () => {
    const yaml = `${destination("served")}apiVersion: gantry/v1
kind: Gateway
metadata: { name: servers }
spec:
  kind: GRPC_SERVER
  proxies: { labels: { app: served } }
  listeners: [{ port: 50051, destination: { name: served } }]
`;
    expect(analyze(yaml).filter((f) => f.code === "GTY0108")).toEqual([]);
  });

  it("GTY0109: a resource translation refuses", () => {
    const yaml = `${gateway()}apiVersion: gantry/v1
kind: Gateway
metadata: { name: bad }
spec:
  listeners: [{ port: 8081 }]
`;
    const found = analyze(yaml).filter((f) => f.code === "GTY0109");
    expect(found.map((f) => f.targets[0]?.name)).toEqual(["bad"]);
    expect(found[0]?.args["message"]).toMatch(/spec\.proxies/);
  });

  it("GTY0110: a CORS or header policy on a proxyless gateway's route, not on an Envoy gateway's", () => {
    const grpcGateway = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: grpc }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { gateway: grpc } }
---
`;
    const table = (name: string, gw: string) => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${name} }
spec:
  hosts: [${name}.example.com]
  gateways: [{ name: ${gw} }]
  http:
    - name: all
      labels: { app: web }
      forwardTo:
        destinations: [{ destination: { name: web } }]
${timed}
---
`;
    const yaml = `${gateway()}${grpcGateway}${destination("web")}${table("envoy-rt", "gw")}${table("grpc-rt", "grpc")}apiVersion: gantry/v1
kind: CORSPolicy
metadata: { name: cors }
spec:
  applyToRoutes: [{ route: { labels: { app: web } } }]
  allowOrigins: [https://a.example]
---
apiVersion: gantry/v1
kind: HeaderPolicy
metadata: { name: hp }
spec:
  applyToRoutes: [{ route: { labels: { app: web } } }]
  requestHeadersToAdd: [{ name: x-a, value: b }]
`;
    const found = analyze(yaml).filter((f) => f.code === "GTY0110");
    expect(
      found.map((f) => [f.targets[0]?.kind, f.targets[0]?.name, f.args["route"], f.args["gateway"]]).sort(),
    ).toEqual([
      ["CORSPolicy", "cors", "default/grpc-rt/all", "default/grpc"],
      ["HeaderPolicy", "hp", "default/grpc-rt/all", "default/grpc"],
    ]);
    for (const f of found) {
      for (const [, key] of codeInfo(f.code).summary.matchAll(/\{(\w+)\}/g))
        expect(f.args).toHaveProperty(key as string);
    }
  });

  it("GTY0111: a VirtualDestination cluster Envoy callers elsewhere cannot reach, for want of an east-west gateway", () => {
    const yaml = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: callers, namespace: mc, clusters: [east] }
spec:
  proxies: { labels: { app: caller } }
  listeners: [{ port: 15001 }]
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: svc, namespace: mc }
spec:
  hosts: [svc.global]
  gateways: [{ name: callers }]
  http: [{ forwardTo: { destinations: [{ virtualDestination: { name: svc } }], timeout: 5s } }]
---
apiVersion: gantry/v1
kind: VirtualDestination
metadata: { name: svc, namespace: mc }
spec:
  ports: [{ number: 80 }]
  destinations: [{ name: svc-east }, { name: svc-west }]
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: svc-east, namespace: mc, clusters: [east] }
spec: { ports: [{ number: 80 }], endpoints: [{ address: 10.0.0.1 }] }
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: svc-west, namespace: mc, clusters: [west] }
spec: { ports: [{ number: 80 }], endpoints: [{ address: 10.0.0.2 }] }
`;
    const found = analyze(yaml).filter((f) => f.code === "GTY0111");
    expect(found.map((f) => [f.targets.map((t) => `${t.kind}/${t.namespace}/${t.name}`), f.args])).toEqual([
      [["VirtualDestination/mc/svc", "Gateway/mc/callers"], { name: "mc/svc", cluster: "west", gateway: "mc/callers" }],
    ]);
  });

  it("every finding gives a value to each placeholder of its code's summary", () => {
    const yaml =
      gateway() +
      destination("old") +
      routes(`    - name: a
      matchers: [{ regex: ".*x" }]
      forwardTo:
        destinations: [{ destination: { name: nope } }]
        timeout: 0s`);
    const found = analyze(yaml);
    // The route to a missing destination is not served, so no timeout finding comes from it.
    expect(codes(found)).toEqual(["GTY0101", "GTY0105", "GTY0108"]);
    for (const f of found) {
      for (const [, key] of codeInfo(f.code).summary.matchAll(/\{(\w+)\}/g))
        expect(f.args).toHaveProperty(key as string);
    }
  });
});
