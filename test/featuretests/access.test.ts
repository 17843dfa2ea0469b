// AccessPolicies: who may call a namespace's destinations, as RBAC rules on the routes to them
// (Envoy gateways) and on the Listeners of their xDS-enabled gRPC servers (docs/security.md).
// (Over 400 lines: one feature, whose Envoy and gRPC server cases share the policies below and their RBAC.)
import type { JsonObject as Json } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { clusterNameRule } from "../../src/resources/index.js";
import {
  edsCluster,
  listener,
  prefix,
  route,
  routeConfig,
  routerFilter,
  toCluster,
  toWeighted,
  virtualHost,
} from "./envoy.js";
import {
  andRules,
  anyCaller,
  anyRequest,
  headerIs,
  headerPresent,
  orRules,
  principals,
  rbacListenerFilters,
  rbacPerRoute,
  rbacPolicy,
  rbacRules,
  rbacServerFilters,
  serverListener,
  serverListenerName,
  urlPath,
} from "./envoy-mesh.js";
import { accepted, CDS, envoyNode, featureServer, invalid, LDS, RDS, type StatusView, warning } from "./harness.js";
import {
  accessPolicy,
  destination,
  forward,
  gateway,
  httpRoute,
  placed,
  prefixMatch,
  routeTable,
  serverGateway,
  virtualDestination,
} from "./resources.js";

const ft = featureServer();

const appliesTo = (...destinations: string[]): StatusView => ({
  state: "ACCEPTED",
  messages: [`applies to ${destinations.map((d) => `Destination/${d}`).join(", ")}`],
});

/** Callers allowed: the web service account, or any service account of namespace front for one method. */
const allowCallers = {
  destinations: [{ labels: { app: "greeter" } }],
  rules: [
    { from: { identities: ["spiffe://gantry.local/ns/acc/sa/web"] } },
    { from: { namespaces: ["front"] }, to: { paths: ["/helloworld.Greeter/SayHello"], methods: ["POST"] } },
  ],
};
const denyAdmin = {
  action: "DENY",
  destinations: [{ labels: { app: "greeter" } }],
  rules: [
    { to: { paths: ["/admin/*"] }, when: [{ name: "x-tenant", values: ["acme", "globex"] }, { name: "x-debug" }] },
  ],
};

/** The RBAC policies those two policies' rules become, each named `namespace/policy/rules[i]`. */
function rbacPolicies(ns: string): { allow: Record<string, Json>; deny: Record<string, Json> } {
  return {
    allow: {
      [`${ns}/callers/rules[0]`]: rbacPolicy(
        anyRequest,
        principals([{ exact: `spiffe://gantry.local/ns/acc/sa/web` }]),
      ),
      [`${ns}/callers/rules[1]`]: rbacPolicy(
        andRules([
          orRules([urlPath({ exact: "/helloworld.Greeter/SayHello" })]),
          orRules([headerIs(":method", "POST")]),
        ]),
        principals([{ prefix: "spiffe://gantry.local/ns/front/sa/" }]),
      ),
    },
    deny: {
      [`${ns}/block-admin/rules[0]`]: rbacPolicy(
        andRules([
          orRules([urlPath({ prefix: "/admin/" })]),
          orRules([headerIs("x-tenant", "acme"), headerIs("x-tenant", "globex")]),
          headerPresent("x-debug"),
        ]),
        anyCaller,
      ),
    },
  };
}

function rules(ns: string): { allow: Json; deny: Json } {
  const { allow, deny } = rbacPolicies(ns);
  return { allow: rbacRules("ALLOW", allow), deny: rbacRules("DENY", deny) };
}

describe("AccessPolicy", () => {
  it("Envoy: both RBAC filters on the listener, each route to a governed destination carrying its rules", async () => {
    const ns = "acc";
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/site`,
        ["site.example.com"],
        ["public"],
        [
          httpRoute("greeter", [prefixMatch("/helloworld.Greeter")], forward(["greeter"])),
          httpRoute("open", [], forward(["open"])),
        ],
      ),
      destination(`${ns}/greeter`, 8080, ["10.8.0.1"], {}, { app: "greeter" }),
      destination(`${ns}/open`, 8080, ["10.8.0.2"]),
      accessPolicy(`${ns}/callers`, allowCallers),
      accessPolicy(`${ns}/block-admin`, denyAdmin),
    );
    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [edsCluster(`${ns}/greeter:8080`), edsCluster(`${ns}/open:8080`)]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080, { filters: [...rbacListenerFilters, routerFilter] })]);
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    const routes = (greeterRules: { allow?: Json; deny?: Json } | undefined) =>
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/site`,
          ["site.example.com"],
          [
            route(
              `${ns}/site/greeter`,
              prefix("/helloworld.Greeter"),
              toCluster(`${ns}/greeter:8080`),
              greeterRules ? { typedPerFilterConfig: rbacPerRoute(greeterRules) } : {},
            ),
            route(`${ns}/site/open`, prefix("/"), toCluster(`${ns}/open:8080`)),
          ],
        ),
      ]);
    await envoy.expect(RDS, [routes(rules(ns))]);
    await envoy.expectQuiet();
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/public`]: accepted,
      [`RouteTable/${ns}/site`]: accepted,
      [`Destination/${ns}/greeter`]: accepted,
      [`Destination/${ns}/open`]: accepted,
      [`AccessPolicy/${ns}/callers`]: appliesTo(`${ns}/greeter`),
      [`AccessPolicy/${ns}/block-admin`]: appliesTo(`${ns}/greeter`),
    });
    const gatewaysOf = async (name: string) =>
      (await ft.api.describe({ ref: { kind: "AccessPolicy", namespace: ns, name } })).gateways.map(
        (g) => `${g.namespace}/${g.name}`,
      );
    expect(await gatewaysOf("callers")).toEqual([`${ns}/public`]);

    // Without the DENY policy: its filter is off on the route; the listener is unchanged.
    await ft.delete(`AccessPolicy/${ns}/block-admin`);
    await envoy.expect(RDS, [routes({ allow: rules(ns).allow })]);
    await envoy.expectQuiet();

    // No policy left: the filters go from the listener, the rules from the route.
    await ft.delete(`AccessPolicy/${ns}/callers`);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080)]);
    await envoy.expect(RDS, [routes(undefined)]);
    await envoy.expectQuiet();
  });

  it("gRPC servers: the Listener's RBAC filters and TLS follow the destination's policies", async () => {
    const ns = "acc-server";
    await ft.apply(
      serverGateway(`${ns}/greeter-servers`, { app: `${ns}-greeter` }, [
        { port: 50051, destination: { name: "greeter" } },
      ]),
      destination(
        `${ns}/greeter`,
        { number: 50051, protocol: "GRPC" },
        ["10.8.1.1"],
        {
          workloadTls: { mode: "MUTUAL" },
        },
        { app: "greeter" },
      ),
      accessPolicy(`${ns}/callers`, {
        ...allowCallers,
        rules: [...allowCallers.rules, { to: { methods: ["GET"] } }],
      }),
      accessPolicy(`${ns}/block-admin`, denyAdmin),
    );
    const name = serverListenerName("0.0.0.0", 50051);
    const server = ft.sotw(envoyNode(`${ns}-server-1`, { app: `${ns}-greeter` }));
    server.subscribe(LDS, [name]);
    const allowWithGet = rbacRules("ALLOW", {
      ...rbacPolicies(ns).allow,
      [`${ns}/callers/rules[2]`]: rbacPolicy(orRules([headerIs(":method", "GET")]), anyCaller),
    });
    await server.expect(LDS, [
      serverListener("0.0.0.0", 50051, `${ns}/greeter`, {
        filters: rbacServerFilters({ deny: rules(ns).deny, allow: allowWithGet }),
        tls: "MUTUAL",
      }),
    ]);
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/greeter-servers`]: accepted,
      [`Destination/${ns}/greeter`]: accepted,
      [`AccessPolicy/${ns}/callers`]: {
        state: "WARNING",
        messages: [
          `applies to Destination/${ns}/greeter`,
          "spec.rules[2].to.methods: gRPC servers see every call as POST; only POST matches there",
        ],
      },
      [`AccessPolicy/${ns}/block-admin`]: appliesTo(`${ns}/greeter`),
    });
    const described = await ft.api.describe({ ref: { kind: "AccessPolicy", namespace: ns, name: "block-admin" } });
    expect(described.gateways.map((g) => `${g.namespace}/${g.name}`)).toEqual([`${ns}/greeter-servers`]);

    // The DENY policy gone: its filter goes; then the ALLOW one, and the TLS mode changes.
    await ft.delete(`AccessPolicy/${ns}/block-admin`);
    await server.expect(LDS, [
      serverListener("0.0.0.0", 50051, `${ns}/greeter`, {
        filters: rbacServerFilters({ allow: allowWithGet }),
        tls: "MUTUAL",
      }),
    ]);
    await ft.delete(`AccessPolicy/${ns}/callers`);
    await ft.apply(
      destination(
        `${ns}/greeter`,
        { number: 50051, protocol: "GRPC" },
        ["10.8.1.1"],
        {
          workloadTls: { mode: "SIMPLE" },
        },
        { app: "greeter" },
      ),
    );
    await server.expect(LDS, [serverListener("0.0.0.0", 50051, `${ns}/greeter`, { tls: "MUTUAL" })]);
    await server.expect(LDS, [serverListener("0.0.0.0", 50051, `${ns}/greeter`, { tls: "SIMPLE" })]);
    await server.expectQuiet();
  });

  it("a default-deny namespace: every destination gets an ALLOW filter, and one with nothing allowed is warned about", async () => {
    const ns = "acc-deny";
    await ft.apply(
      serverGateway(`${ns}/servers`, { app: ns }, [
        { port: 50051, destination: { name: "greeter" } },
        { port: 50052, destination: { name: "ledger" } },
      ]),
      destination(`${ns}/greeter`, { number: 50051, protocol: "GRPC" }, ["10.8.2.1"], {}, { app: "greeter" }),
      destination(`${ns}/ledger`, { number: 50052, protocol: "GRPC" }, ["10.8.2.2"]),
      accessPolicy(`${ns}/greeter-callers`, {
        destinations: [{ labels: { app: "greeter" } }],
        defaultDeny: true,
        rules: [{ from: { namespaces: ["front"] } }],
      }),
    );
    const server = ft.sotw(envoyNode(`${ns}-1`, { app: ns }));
    server.subscribe(LDS, [serverListenerName("0.0.0.0", 50051), serverListenerName("0.0.0.0", 50052)]);
    await server.expect(LDS, [
      serverListener("0.0.0.0", 50051, `${ns}/greeter`, {
        filters: rbacServerFilters({
          allow: rbacRules("ALLOW", {
            [`${ns}/greeter-callers/rules[0]`]: rbacPolicy(
              anyRequest,
              principals([{ prefix: "spiffe://gantry.local/ns/front/sa/" }]),
            ),
          }),
        }),
      }),
      serverListener("0.0.0.0", 50052, `${ns}/ledger`, {
        filters: rbacServerFilters({ allow: rbacRules("ALLOW", {}) }),
      }),
    ]);
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/servers`]: accepted,
      [`Destination/${ns}/greeter`]: accepted,
      [`Destination/${ns}/ledger`]: accepted,
      [`AccessPolicy/${ns}/greeter-callers`]: {
        state: "WARNING",
        messages: [
          `Destination ${ns}/ledger: nothing is allowed (ALLOW policies without rules, or a default-deny namespace with no ALLOW rule): every request is refused`,
          `applies to Destination/${ns}/greeter`,
        ],
      },
    });
  });

  it("statuses: refused policies and servers by field, warnings for clusters and policies that select nothing", async () => {
    const ns = "acc-bad";
    await ft.apply(
      destination(`${ns}/greeter`, 8080, ["10.8.3.1"], { workloadTls: { mode: "MUTUAL" } }, { app: "greeter" }),
      accessPolicy(`${ns}/bad`, {
        action: "DENY",
        defaultDeny: true,
        destinations: [{ labels: { app: "greeter" }, namespace: "other" }],
        rules: [
          {
            from: { identities: ["web"], namespaces: ["Front"], clusters: ["east_1"] },
            to: { paths: ["admin", "/a*b"], methods: ["get"] },
            when: [{ name: "X-Tenant" }, { name: "grpc-timeout" }, { name: ":scheme" }],
          },
        ],
      }),
      accessPolicy(`${ns}/agents`, {
        destinations: [{ labels: { app: "greeter" } }],
        rules: [{ from: { clusters: ["east"] } }, { from: { clusters: ["east"], namespaces: ["front"] } }],
      }),
      accessPolicy(`${ns}/nothing`, { destinations: [{ labels: { app: "none" } }], rules: [{}] }),
      accessPolicy(`${ns}/deny-all`, { action: "DENY", destinations: [{ labels: { app: "greeter" } }], rules: [{}] }),
      serverGateway(`${ns}/servers`, { app: ns }, [
        { port: 50051, destination: { name: "missing" } },
        { port: 50052, tls: { secret: { name: "x" } }, destination: { name: "greeter" } },
        { port: 50053 },
      ]),
    );
    expect(await ft.statuses(ns)).toEqual({
      [`Destination/${ns}/greeter`]: accepted,
      [`AccessPolicy/${ns}/bad`]: invalid(
        `spec.destinations[0].namespace: an AccessPolicy applies in its own namespace (${ns}), not other`,
        "spec.defaultDeny: set it on an ALLOW policy (it refuses what no ALLOW policy allows)",
        `spec.rules[0].from.identities[0]: "web" is not a SPIFFE ID (spiffe://<trust-domain>/<path>, a trailing * for a prefix)`,
        `spec.rules[0].from.namespaces[0]: "Front" is not a namespace name`,
        `spec.rules[0].from.clusters[0]: "east_1" is not a cluster name: ${clusterNameRule}`,
        `spec.rules[0].to.paths[0]: "admin" must start with / (and may end with * for a prefix)`,
        `spec.rules[0].to.paths[1]: "/a*b" must start with / (and may end with * for a prefix)`,
        `spec.rules[0].to.methods[0]: "get" is not an HTTP method in upper case`,
        `spec.rules[0].when[0].name: "X-Tenant" is not a lower-case header name`,
        `spec.rules[0].when[1].name: "grpc-timeout" cannot be matched (gRPC servers refuse grpc- headers and :scheme)`,
        `spec.rules[0].when[2].name: ":scheme" cannot be matched (gRPC servers refuse grpc- headers and :scheme)`,
      ),
      [`AccessPolicy/${ns}/agents`]: warning(
        "spec.rules[0].from.clusters: matches only callers presenting spiffe://gantry.local/cluster/east (a cluster's agent), never a workload running there: workload certificates name no cluster; to name workloads, use from.identities or from.namespaces",
        "spec.rules[1].from: clusters together with namespaces never matches (a caller's certificate carries one identity, and a workload's names no cluster): this rule allows nothing",
        `applies to Destination/${ns}/greeter`,
      ),
      [`AccessPolicy/${ns}/nothing`]: warning("spec.destinations: selects no Destination"),
      // A DENY rule matching anything locks the destination out: said, and still served as written.
      [`AccessPolicy/${ns}/deny-all`]: warning(
        `Destination ${ns}/greeter: rule ${ns}/deny-all/rules[0] denies every request`,
        `applies to Destination/${ns}/greeter`,
      ),
      [`Gateway/${ns}/servers`]: invalid(
        `spec.listeners[0].destination: Destination ${ns}/missing not found or invalid`,
        "spec.listeners[1].tls: a gRPC server's TLS is its destination's spec.workloadTls",
        "spec.listeners[2].destination: required",
      ),
    });
  });
  it("routes to a VirtualDestination carry its members' policies; a split between different policies refuses all", async () => {
    const ns = "acc-vd";
    const ledger = (cluster: string) =>
      placed(
        destination(`${ns}/ledger-${cluster}`, 8080, [`10.8.4.${cluster === "east" ? 1 : 2}`], {}, { app: "ledger" }),
        [cluster],
      );
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/bank`,
        ["bank.example.com"],
        ["public"],
        [
          httpRoute("ledger", [prefixMatch("/ledger")], forward([{ virtualDestination: { name: "ledger" } }])),
          httpRoute(
            "split",
            [prefixMatch("/split")],
            forward([
              { destination: { name: "ledger-east" }, weight: 1 },
              { destination: { name: "other" }, weight: 1 },
            ]),
          ),
        ],
      ),
      ledger("east"),
      ledger("west"),
      destination(`${ns}/other`, 8080, ["10.8.4.3"]),
      virtualDestination(`${ns}/ledger`, [{ number: 8080 }], { destinationSelector: { labels: { app: "ledger" } } }),
      accessPolicy(`${ns}/ledger-callers`, {
        destinations: [{ labels: { app: "ledger" } }],
        rules: [{ from: { namespaces: ["front"] } }],
      }),
    );
    const allowFront = rbacRules("ALLOW", {
      [`${ns}/ledger-callers/rules[0]`]: rbacPolicy(
        anyRequest,
        principals([{ prefix: "spiffe://gantry.local/ns/front/sa/" }]),
      ),
    });
    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    const routes = (ledgerRules: { allow: Json }) =>
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/bank`,
          ["bank.example.com"],
          [
            route(`${ns}/bank/ledger`, prefix("/ledger"), toCluster(`virtual:${ns}/ledger:8080`), {
              typedPerFilterConfig: rbacPerRoute(ledgerRules),
            }),
            // An ALLOW filter without policies: every request refused.
            route(
              `${ns}/bank/split`,
              prefix("/split"),
              toWeighted([
                [`${ns}/ledger-east:8080`, 1],
                [`${ns}/other:8080`, 1],
              ]),
              { typedPerFilterConfig: rbacPerRoute({ allow: rbacRules("ALLOW", {}) }) },
            ),
          ],
        ),
      ]);
    await envoy.expect(RDS, [routes({ allow: allowFront })]);
    const splitWarning = `route ${ns}/bank/split: its destinations have different AccessPolicies; the route refuses every request (split it per destination)`;
    expect((await ft.statuses(ns))[`RouteTable/${ns}/bank`]).toEqual(warning(splitWarning));

    // One member's policies differ: the route to the VirtualDestination refuses every request too.
    await ft.apply(
      placed(destination(`${ns}/ledger-west`, 8080, ["10.8.4.2"], {}, { app: "ledger", cluster: "west" }), ["west"]),
      accessPolicy(`${ns}/west-only`, { destinations: [{ labels: { cluster: "west" } }], rules: [{}] }),
    );
    await envoy.expect(RDS, [routes({ allow: rbacRules("ALLOW", {}) })]);
    expect((await ft.statuses(ns))[`RouteTable/${ns}/bank`]).toEqual(
      warning(
        `route ${ns}/bank/ledger: the members of its VirtualDestination (or its other destinations) have different AccessPolicies; the route refuses every request (give the members the same policies)`,
        splitWarning,
      ),
    );
    await envoy.expectQuiet();
  });
});
