import { describe, expect, it } from "vitest";
import { State, type TranslateOptions, translate } from "../../src/translate/index.js";
import { destination, gateway, resources } from "./fixtures.js";

// Every output a gateway gets, made invalid through Gantry resources: whatever refuses it (the
// Envoy validator, or normalize before it), the status lands on the Gantry resource it came from
// and names the field.

const routeTable = (name: string, host: string, gw = "gw") => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${name} }
spec:
  hosts: [${host}]
  gateways: [{ name: ${gw} }]
  http:
    - name: main
      labels: { limited: "yes" }
      forwardTo: { destinations: [{ destination: { name: d } }] }
---
`;

const rateLimitPolicy = (headerName: string) => `apiVersion: gantry/v1
kind: RateLimitPolicy
metadata: { name: per-key }
spec:
  applyToRoutes: [{ route: { labels: { limited: "yes" } } }]
  rateLimits: [{ actions: [{ requestHeaders: { headerName: "${headerName}", descriptorKey: key } }] }]
---
`;

const tlsGateway = (certificateChain: string) => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: gw }
spec:
  proxies: { labels: { gateway: gw } }
  listeners: [{ port: 8443, protocol: HTTPS, tls: { secret: { name: cert } } }]
---
apiVersion: gantry/v1
kind: Secret
metadata: { name: cert }
spec:
  tls: { certificateChain: ${certificateChain}, privateKey: { file: /etc/tls/key } }
---
`;

const grpcGateway = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: gw }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: frontend } }
---
`;

const d = destination("d");
const rejected = "rejected by validation for Gateway default/gw: ";

interface Case {
  output: string;
  input: string;
  options?: TranslateOptions;
  blamed: string;
  message: string;
}

const cases: Case[] = [
  {
    output: "route (refused by the validator)",
    input: `${gateway()}${d}${routeTable("rt", "a.example.com")}${rateLimitPolicy("")}`,
    blamed: "RateLimitPolicy/default/per-key",
    message: `${rejected}route default/rt/main: route.rate_limits[0].actions[0].request_headers.header_name: must not be empty`,
  },
  {
    output: "virtual host (refused by the validator)",
    input: `${gateway()}${d}${routeTable("rt", '"bad\\nhost"')}`,
    blamed: "RouteTable/default/rt",
    message: `${rejected}virtual host default/rt: domains[0]: must be a valid HTTP header value, got "bad\\nhost"`,
  },
  {
    output: "route configuration (a domain in two virtual hosts)",
    input: `${gateway()}${d}${routeTable("a", "a.example.com")}${routeTable("b", "A.example.com")}`,
    blamed: "RouteTable/default/b",
    message: `${rejected}default/gw/8080: domains: domain "A.example.com" is also in virtual host default/a`,
  },
  {
    output: "cluster (refused by the validator)",
    input: `${gateway()}${d.replace("ports:", "connectTimeout: 0s\n  ports:")}${routeTable("rt", "a.example.com")}`,
    blamed: "Destination/default/d",
    message: `${rejected}cluster default/d:80: connect_timeout: must be longer than 0 ms, got 0 ms`,
  },
  {
    output: "Gantry's service cluster (refused by the validator)",
    input: `${gateway()}${d}${routeTable("rt", "a.example.com")}${rateLimitPolicy("x-key")}`,
    options: { rateLimit: { host: "", port: 8081 } },
    blamed: "Gateway/default/gw",
    message: `${rejected}Cluster gantry-ratelimit: load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: must not be empty`,
  },
  {
    output: "gRPC proxyless routes (refused by the validator)",
    input: `${grpcGateway}${d}${routeTable("rt", '"bad\\nhost"')}`,
    blamed: "RouteTable/default/rt",
    message: `${rejected}virtual host default/rt: domains[0]: must be a valid HTTP header value, got "bad\\nhost"`,
  },
  {
    output: "listener (refused by normalize first)",
    input: `${gateway().replace("port: 8080", "port: 70000")}${d}${routeTable("rt", "a.example.com")}`,
    blamed: "Gateway/default/gw",
    message: "spec.listeners[0].port: must be 1..65535",
  },
  {
    output: "endpoints (refused by normalize first)",
    input: `${gateway()}${d.replace("{ address: 10.0.0.1 }", "{ address: 10.0.0.1, port: 70000 }")}${routeTable("rt", "a.example.com")}`,
    blamed: "Destination/default/d",
    message: "spec.endpoints[0].port: must be 1..65535",
  },
  {
    output: "secret (refused by normalize first)",
    input: `${tlsGateway('{ inline: "" }')}${d}${routeTable("rt", "a.example.com")}`,
    blamed: "Secret/default/cert",
    message: "spec.tls.certificateChain: required (inline or file)",
  },
];

describe("a refused output is blamed on the Gantry resource it came from, with the field path", () => {
  for (const c of cases) {
    it(c.output, () => {
      const translation = translate(resources(c.input), c.options);
      const status = translation.statuses.get(c.blamed);
      expect(status?.state).toBe(State.INVALID);
      expect(status?.messages).toContain(c.message);
      if (c.message.startsWith(rejected)) {
        // The gateway's proxies keep what they had: a fresh translator has nothing good yet.
        const group = translation.groups.find((g) => g.name === "default/gw");
        expect(group?.rejected?.length).toBeGreaterThan(0);
        expect(group?.resources).toEqual([]);
        expect(translation.statuses.get("Gateway/default/gw")?.messages).toContain(
          "the proxies keep their last good configuration",
        );
      }
    });
  }
});
