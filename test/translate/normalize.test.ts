import { describe, expect, it } from "vitest";
import { normalize, State, translate } from "../../src/translate/index.js";
import { destination, gateway, resources } from "./fixtures.js";

function status(text: string, key: string) {
  const s = normalize(resources(text)).statuses.get(key);
  return s && { state: State[s.state], messages: s.messages };
}

const routesOf = (text: string) =>
  normalize(resources(text)).model.gateways[0]?.listeners[0]?.virtualHosts.flatMap((v) => v.routes) ?? [];

describe("normalize", () => {
  it("detects a delegation cycle, reports it and keeps the rest of the tree", () => {
    const text = `${gateway()}${destination("d")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: root }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
    - name: to-a
      matchers: [{ prefix: /a }]
      delegate: { routeTables: [{ ref: { name: a } }] }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: a }
spec:
  http:
    - name: leaf
      matchers: [{ prefix: /a/leaf }]
      forwardTo: { destinations: [{ destination: { name: d } }] }
    - name: back-to-b
      matchers: [{ prefix: /a/b }]
      delegate: { routeTables: [{ ref: { name: b } }] }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: b }
spec:
  http:
    - name: loop
      matchers: [{ prefix: /a/b }]
      delegate: { routeTables: [{ ref: { name: a } }] }
`;
    expect(routesOf(text).map((r) => r.name)).toEqual(["default/root/to-a > default/a/leaf"]);
    expect(status(text, "RouteTable/default/b")).toEqual({
      state: "WARNING",
      messages: [
        "spec.http[0] (loop): delegation cycle: default/a → default/b → default/a; RouteTable default/a is skipped here",
      ],
    });
    expect(status(text, "RouteTable/default/a")?.messages).toContain(
      "part of a delegation cycle: default/a → default/b → default/a",
    );
  });

  it("skips a delegation child that names gateways, and one whose path leaves the parent prefix", () => {
    const text = `${gateway()}${destination("d")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: root }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
    - matchers: [{ prefix: /api }]
      delegate: { routeTables: [{ labels: { child: "yes" } }] }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rogue, labels: { child: "yes" } }
spec:
  hosts: [b.example.com]
  gateways: [{ name: gw }]
  http:
    - forwardTo: { destinations: [{ destination: { name: d } }] }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: wanderer, labels: { child: "yes" } }
spec:
  http:
    - name: elsewhere
      matchers: [{ prefix: /other }]
      forwardTo: { destinations: [{ destination: { name: d } }] }
    - name: inside
      matchers: [{ prefix: /api/v1 }]
      forwardTo: { destinations: [{ destination: { name: d } }] }
`;
    const vhosts = normalize(resources(text)).model.gateways[0]?.listeners[0]?.virtualHosts ?? [];
    expect(vhosts.map((v) => [v.name, v.routes.map((r) => r.name)])).toEqual([
      ["default/rogue", ["default/rogue/route-0"]],
      ["default/root", ["default/root/route-0 > default/wanderer/inside"]],
    ]);
    const root = status(text, "RouteTable/default/root");
    expect(root?.messages).toContain(
      "spec.http[0] (route-0): RouteTable default/rogue names gateways; a delegation child may not, so it is skipped",
    );
    expect(status(text, "RouteTable/default/wanderer")?.messages).toContain(
      'spec.http[0] (elsewhere): path prefix "/other" is not under the parent\'s prefix "/api"',
    );
  });

  it("gives a second ExtAuthPolicy on the same route FAILED, and applies the first", () => {
    const policy = (name: string, config: string) => `---
apiVersion: gantry/v1
kind: ExtAuthPolicy
metadata: { name: ${name} }
spec:
  applyToRoutes: [{ route: { labels: { secure: "yes" } } }]
  ${config}
`;
    const text = `${gateway()}${destination("d")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
    - name: private
      labels: { secure: "yes" }
      forwardTo: { destinations: [{ destination: { name: d } }] }
${policy("a-first", "authConfig: { name: users }")}${policy("b-second", "disable: true")}`;
    const [route] = routesOf(text);
    expect(route?.policies.extAuth).toEqual({ configId: "default/users" });
    expect(status(text, "ExtAuthPolicy/default/b-second")).toEqual({
      state: "FAILED",
      messages: ["route default/rt/private already has a ExtAuthPolicy applied; this one is not applied there"],
    });
    expect(status(text, "ExtAuthPolicy/default/a-first")?.state).toBe("WARNING");
    expect(status(text, "ExtAuthPolicy/default/a-first")?.messages[0]).toMatch(/AuthConfig default\/users not found/);
  });

  it("answers 500 on a route whose destination is missing, without breaking the other routes", () => {
    const text = `${gateway()}${destination("d")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
    - name: broken
      matchers: [{ prefix: /broken }]
      forwardTo: { destinations: [{ destination: { name: nowhere } }] }
    - name: fine
      forwardTo: { destinations: [{ destination: { name: d } }] }
`;
    const routes = routesOf(text);
    expect(routes.map((r) => [r.name, r.action.type])).toEqual([
      ["default/rt/broken", "direct"],
      ["default/rt/fine", "forward"],
    ]);
    expect(status(text, "RouteTable/default/rt")).toEqual({
      state: "WARNING",
      messages: [
        "spec.http[0] (broken): spec.http[0].forwardTo.destinations[0].destination: Destination default/nowhere not found or invalid; the route answers 500",
      ],
    });
  });

  it("keeps an invalid destination from breaking others, and marks it INVALID", () => {
    const text = `${gateway()}${destination("good")}${destination("bad", "not-an-ip")}`;
    const { statuses } = normalize(resources(text));
    expect(statuses.get("Destination/default/bad")).toEqual({
      state: State.INVALID,
      messages: ['spec.endpoints[0].address: "not-an-ip" is not an IP address'],
    });
    expect(statuses.get("Destination/default/good")?.state).toBe(State.ACCEPTED);
  });

  it("refuses a destination whose endpoint weights add up past a uint32, and translates the rest", () => {
    const weighted = (name: string, weights: number[]) => `apiVersion: gantry/v1
kind: Destination
metadata: { name: ${name} }
spec:
  ports: [{ number: 80 }]
  endpoints: [${weights.map((w, i) => `{ address: 10.0.0.${i + 1}, weight: ${w} }`).join(", ")}]
---
`;
    const route = (to: string) => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${to} }
spec:
  hosts: [${to}.example.com]
  gateways: [{ name: gw }]
  http: [{ forwardTo: { destinations: [{ destination: { name: ${to} } }] } }]
---
`;
    // Before the check, encoding the locality weight (6e9) threw and the whole translation failed.
    const text = `${gateway()}${weighted("most", [4294967294, 1])}${weighted("over", [3000000000, 3000000000])}${route("most")}${route("over")}`;
    const translation = translate(resources(text));
    expect(translation.statuses.get("Destination/default/over")).toEqual({
      state: State.INVALID,
      messages: [
        "spec.endpoints: the weights add up to 6000000000, above 4294967295 (2^32-1), the most Envoy and gRPC clients accept",
      ],
    });
    expect(translation.statuses.get("Destination/default/most")?.state).toBe(State.ACCEPTED);
    const names = translation.groups.flatMap((g) => g.resources.map((r) => r.name));
    expect(names).toContain("default/most:80");
    expect(names).not.toContain("default/over:80");
  });

  it("says of a route table no listener admits which listeners there are and what each wants", () => {
    const gw = (listeners: string) => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: gw }
spec:
  proxies: { labels: { gateway: gw } }
  listeners: ${listeners}
---
`;
    const api = `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: api, labels: { tier: api } }
spec:
  hosts: [api.example.com]
  gateways: [{ name: gw }]
  http: [{ directResponse: { status: 200 } }]
---
`;
    const selective = gw(`
    - { name: web, port: 8080, allowedRouteTables: [{ host: www.example.com }, { namespace: team, labels: { exposure: public } }] }
    - { port: 8443, allowedRouteTables: [{ host: api.example.com, labels: { tier: web } }] }`);
    expect(status(selective + api, "RouteTable/default/api")).toEqual({
      state: "WARNING",
      messages: [
        'not admitted by any listener of Gateway default/gw (hosts api.example.com; labels tier=api): listener web (port 8080): spec.listeners[0].allowedRouteTables[0] wants host "www.example.com", [1] wants namespace team and labels exposure=public; listener 8443 (port 8443): spec.listeners[1].allowedRouteTables[0] wants labels tier=web',
        "not attached to any gateway listener",
      ],
    });
    expect(status(gw("[]") + api, "RouteTable/default/api")?.messages[0]).toBe(
      "not admitted by any listener of Gateway default/gw: it has no listeners",
    );
  });

  it("gives a host to the first route table only, with a warning on the second", () => {
    const rt = (name: string) => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${name} }
spec:
  hosts: [shared.example.com]
  gateways: [{ name: gw }]
  http: [{ forwardTo: { destinations: [{ destination: { name: d } }] } }]
---
`;
    const text = `${gateway()}${destination("d")}${rt("one")}${rt("two")}`;
    const vhosts = normalize(resources(text)).model.gateways[0]?.listeners[0]?.virtualHosts ?? [];
    expect(vhosts.map((v) => v.name)).toEqual(["default/one"]);
    expect(status(text, "RouteTable/default/two")?.messages[0]).toMatch(
      /"shared\.example\.com" is already served by RouteTable default\/one/,
    );
  });

  it("checks regexes as RE2 does: (?i) is accepted; lookahead, and too large a program, are refused naming the field", () => {
    const table = (http: string) => `${gateway()}${destination("d")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
${http}`;
    const to = "forwardTo: { destinations: [{ destination: { name: d } }] }";
    const ok = table(`    - { name: ci, matchers: [{ regex: "(?i)/api/.*" }], ${to} }\n`);
    expect(status(ok, "RouteTable/default/rt")?.state).toBe("ACCEPTED");
    expect(routesOf(ok).map((r) => r.name)).toEqual(["default/rt/ci"]);
    const bad = table(`    - { name: look, matchers: [{ regex: "^/a(?=b)" }], ${to} }
    - { name: hdr, matchers: [{ headers: [{ name: x-v, value: "(a)\\\\1", regex: true }] }], ${to} }
    - { name: query, matchers: [{ queryParams: [{ name: q, value: "(a|b|c|d){50}", regex: true }] }], ${to} }
`);
    const messages = status(bad, "RouteTable/default/rt")?.messages.join("\n") ?? "";
    expect(messages).toContain(
      "matchers[0].regex: invalid regex: error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
    );
    expect(messages).toContain(
      "matchers[0].headers[0].value: invalid regex: error parsing regexp: invalid escape sequence",
    );
    expect(messages).toContain("matchers[0].queryParams[0].value: invalid regex: the compiled regex is too large");
  });

  it("orders routes by specificity: exact, regex, longer prefix, more conditions; ties keep the written order", () => {
    const text = `${gateway()}${destination("d")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
    - { name: root, forwardTo: { destinations: [{ destination: { name: d } }] } }
    - { name: api, matchers: [{ prefix: /api }], forwardTo: { destinations: [{ destination: { name: d } }] } }
    - { name: api-beta, matchers: [{ prefix: /api, headers: [{ name: x-beta }] }], forwardTo: { destinations: [{ destination: { name: d } }] } }
    - { name: rx, matchers: [{ regex: "/api/[0-9]+" }], forwardTo: { destinations: [{ destination: { name: d } }] } }
    - { name: exact, matchers: [{ exact: /api/health }], forwardTo: { destinations: [{ destination: { name: d } }] } }
    - { name: api-too, matchers: [{ prefix: /api }], forwardTo: { destinations: [{ destination: { name: d } }] } }
`;
    expect(routesOf(text).map((r) => r.name.replace("default/rt/", ""))).toEqual([
      "exact",
      "rx",
      "api-beta",
      "api",
      "api-too",
      "root",
    ]);
  });

  it("rejects a gateway listener whose TLS secret is missing, and reports a route table naming an unknown gateway", () => {
    const text = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: gw }
spec:
  proxies: { nodeIds: [n1] }
  listeners: [{ port: 8443, protocol: HTTPS, tls: { secret: { name: missing } } }]
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  hosts: [a.example.com]
  gateways: [{ name: nope }]
`;
    expect(status(text, "Gateway/default/gw")).toEqual({
      state: "INVALID",
      messages: ["spec.listeners[0].tls.secret: Secret default/missing not found or invalid"],
    });
    expect(status(text, "RouteTable/default/rt")?.messages).toContain(
      "spec.gateways[0]: Gateway default/nope not found",
    );
  });

  it("leaves redirects and direct responses out for proxyless gRPC clients", () => {
    const text = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: mesh }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: client } }
---
${destination("d")}apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  hosts: [svc.example]
  gateways: [{ name: mesh }]
  http:
    - { name: answer, matchers: [{ exact: /x.Y/Z }], directResponse: { status: 200 } }
    - { name: all, forwardTo: { destinations: [{ destination: { name: d } }] } }
`;
    expect(routesOf(text).map((r) => r.name)).toEqual(["default/rt/all"]);
    expect(status(text, "RouteTable/default/rt")?.messages[0]).toMatch(
      /route default\/rt\/answer: gRPC clients only forward/,
    );
  });

  it("reports rejected documents as INVALID with their load errors", () => {
    const { statuses } = normalize(
      [],
      [{ file: "f.yaml", line: 3, ref: { kind: "RouteTable", namespace: "ns", name: "x" }, errors: ["f.yaml:4: bad"] }],
    );
    expect(statuses.get("RouteTable/ns/x")).toEqual({ state: State.INVALID, messages: ["f.yaml:4: bad"] });
  });
  it("applies a policy to the routes that forward to the destinations it selects", () => {
    const text = `${gateway()}${destination("plain")}apiVersion: gantry/v1
kind: Destination
metadata: { name: payments, labels: { pci: "yes" } }
spec:
  ports: [{ number: 80 }]
  endpoints: [{ address: 10.0.0.2 }]
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
    - { name: pay, matchers: [{ prefix: /pay }], forwardTo: { destinations: [{ destination: { name: payments } }] } }
    - { name: rest, forwardTo: { destinations: [{ destination: { name: plain } }] } }
---
apiVersion: gantry/v1
kind: RetryTimeoutPolicy
metadata: { name: pci-timeout }
spec:
  applyToDestinations: [{ destination: { labels: { pci: "yes" } } }]
  timeout: 2s
`;
    const routes = routesOf(text);
    expect(routes.map((r) => [r.name, r.policies.timeoutMs])).toEqual([
      ["default/rt/pay", 2000],
      ["default/rt/rest", undefined],
    ]);
    expect(status(text, "RetryTimeoutPolicy/default/pci-timeout")?.state).toBe("ACCEPTED");
  });
});
