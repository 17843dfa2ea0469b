// The resources every client of the conformance matrix is routed by: one proxyless Gateway and a
// route table per scenario, each on its own host.
export interface Ports {
  a: number;
  b: number;
  flaky: number;
  slow: number;
  p1: number;
  p2: number;
}

export const gatewayLabels = { app: "interop" };

function destination(name: string, ports: number[]): string {
  return `---
apiVersion: gantry/v1
kind: Destination
metadata: { name: ${name}, namespace: interop }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [${ports.map((p) => `{ address: 127.0.0.1, port: ${p} }`).join(", ")}]
`;
}

function table(host: string, routes: string): string {
  return `---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${host}, namespace: interop }
spec:
  hosts: [${host}.test]
  gateways: [{ name: interop }]
  http:
${routes}`;
}

const to = (name: string) => `forwardTo: { destinations: [{ destination: { name: ${name} } }] }`;

export interface WorldOptions {
  /** Where the `change` host sends its calls. */
  changeTo?: string;
  /** The endpoints of `pair`. */
  pairPorts?: number[];
  /** Where the `removal` host sends its calls (the Destination `extra` is always in the world). */
  removalTo?: string;
  /**
   * The `nack` host split evenly over `a` and `b` instead of all to `a`: the matrix makes the
   * RouteConfiguration clients NACK from this one (matrix.test.ts, nackedRouteConfiguration).
   */
  nackSplit?: boolean;
  /**
   * The `lastgood` host's update that validation rejects: its first route gets a lookahead, which RE2
   * refuses, and a third route for /interop.Other/ is added. Served in part, /interop.Echo/Exact would
   * fall to the broader second route (`b`); served whole, /interop.Other/x would reach `a`.
   */
  lastGoodRejected?: boolean;
  /** Adds the `late` host (to `a`): a target no client can have cached before it is added. */
  late?: boolean;
}

/** The whole world, shaped by `options`. */
export function world(ports: Ports, options: WorldOptions = {}): string {
  return `apiVersion: gantry/v1
kind: Gateway
metadata: { name: interop, namespace: interop }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: interop } }
${destination("a", [ports.a])}${destination("b", [ports.b])}${destination("flaky", [ports.flaky])}${destination(
  "slow",
  [ports.slow],
)}${destination("pair", options.pairPorts ?? [ports.p1, ports.p2])}${destination("extra", [ports.b])}${table(
  "routes",
  `    - { name: exact, matchers: [{ exact: /interop.Echo/Exact }], ${to("a")} }
    - { name: regex, matchers: [{ regex: '/interop\\.Other/R[0-9]+' }], ${to("b")} }
    - { name: case-insensitive, matchers: [{ regex: '(?i)/interop\\.other/casematch' }], ${to("a")} }
    - { name: prefix, matchers: [{ prefix: /interop.Echo/ }], ${to("b")} }
`,
)}${table(
  "headers",
  `    - { name: to-b, matchers: [{ headers: [{ name: x-variant, value: b }] }], ${to("b")} }
    - { name: to-b-by-regex, matchers: [{ headers: [{ name: x-variant, value: 'b[0-9]+', regex: true }] }], ${to("b")} }
    - { name: default, ${to("a")} }
`,
)}${table(
  "split",
  `    - forwardTo:
        destinations:
          - { destination: { name: a }, weight: 80 }
          - { destination: { name: b }, weight: 20 }
`,
)}${table("timeout", `    - { name: slow, forwardTo: { destinations: [{ destination: { name: slow } }], timeout: 0.3s } }\n`)}${table(
  "retry",
  `    - { name: flaky, labels: { retry: "yes" }, ${to("flaky")} }\n`,
)}${table("noretry", `    - { name: flaky, ${to("flaky")} }\n`)}${table(
  "abort",
  `    - { name: broken, labels: { chaos: abort }, ${to("a")} }\n`,
)}${table("delay", `    - { name: late, labels: { chaos: delay }, ${to("a")} }\n`)}${table(
  "change",
  `    - { name: moving, ${to(options.changeTo ?? "a")} }\n`,
)}${table("endpoints", `    - { name: pair, ${to("pair")} }\n`)}${table(
  "removal",
  `    - { name: moving, ${to(options.removalTo ?? "extra")} }\n`,
)}${table(
  "nack",
  options.nackSplit
    ? `    - forwardTo:
        destinations:
          - { destination: { name: a }, weight: 1 }
          - { destination: { name: b }, weight: 1 }
`
    : `    - { name: steady, ${to("a")} }\n`,
)}${table(
  "lastgood",
  options.lastGoodRejected
    ? `    - { name: exact, matchers: [{ regex: '/interop\\.Echo/Ex(?=act)' }], ${to("a")} }
    - { name: rest, matchers: [{ prefix: /interop.Echo/ }], ${to("b")} }
    - { name: other, matchers: [{ prefix: /interop.Other/ }], ${to("a")} }
`
    : `    - { name: exact, matchers: [{ regex: '/interop\\.Echo/Exa.t' }], ${to("a")} }
    - { name: rest, matchers: [{ prefix: /interop.Echo/ }], ${to("b")} }
`,
)}${options.late ? table("late", `    - { name: late, ${to("a")} }\n`) : ""}---
apiVersion: gantry/v1
kind: RetryTimeoutPolicy
metadata: { name: retry-unavailable, namespace: interop }
spec:
  applyToRoutes: [{ route: { labels: { retry: "yes" } } }]
  retry: { retryOn: [unavailable], attempts: 3 }
---
apiVersion: gantry/v1
kind: FaultInjectionPolicy
metadata: { name: abort-all, namespace: interop }
spec:
  applyToRoutes: [{ route: { labels: { chaos: abort } } }]
  abort: { grpcStatus: 7, percentage: 100 }
---
apiVersion: gantry/v1
kind: FaultInjectionPolicy
metadata: { name: delay-all, namespace: interop }
spec:
  applyToRoutes: [{ route: { labels: { chaos: delay } } }]
  delay: { fixedDelay: 2s, percentage: 100 }
`;
}
