// Changes that reach routes only through a VirtualDestination: its FailoverPolicy turning invalid
// and valid again, and its membership changing under a label selector, which changes
// the AccessPolicies its routes carry (docs/multicluster-routing.md, docs/security.md).
import { describe, expect, it } from "vitest";
import {
  apiListener,
  atPriority,
  defaultOutlierDetection,
  edsCluster,
  endpoint,
  listener,
  loadAssignment,
  locality,
  prefix,
  route,
  routeConfig,
  routerFilter,
  toCluster,
  virtualHost,
} from "./envoy.js";
import { anyRequest, principals, rbacListenerFilters, rbacPerRoute, rbacPolicy, rbacRules } from "./envoy-mesh.js";
import { accepted, CDS, clusterNode, EDS, featureServer, invalid, LDS, RDS, warning } from "./harness.js";
import {
  accessPolicy,
  destination,
  failoverPolicy,
  forward,
  gateway,
  grpcGateway,
  httpRoute,
  placed,
  routeTable,
  virtualDestination,
} from "./resources.js";

const ft = featureServer();

const grpcPort = { number: 8080, protocol: "GRPC" };

describe("VirtualDestination changes", () => {
  it("a FailoverPolicy turning invalid takes the VirtualDestination and its route away; fixed, both return", async () => {
    const ns = "mcc-policy";
    const policy = (overprovisioningFactor: number) =>
      failoverPolicy(`${ns}/order`, { clusterOrder: ["west"], overprovisioningFactor });
    await ft.apply(
      grpcGateway(`${ns}/mesh`, { app: ns }),
      routeTable(
        `${ns}/svc`,
        ["svc.global"],
        ["mesh"],
        [httpRoute("all", [], forward([{ virtualDestination: { name: "svc" } }]))],
      ),
      placed(destination(`${ns}/svc-east`, grpcPort, ["10.1.3.1"]), ["east"]),
      placed(destination(`${ns}/svc-west`, grpcPort, ["10.2.3.1"]), ["west"]),
      virtualDestination(
        `${ns}/svc`,
        [grpcPort],
        { destinations: [{ name: "svc-east" }, { name: "svc-west" }] },
        { failoverPolicy: { name: "order" } },
      ),
      policy(120),
    );
    const cluster = `virtual:${ns}/svc:8080`;
    const routes = `${ns}/mesh/grpc/svc.global`;
    const served = routeConfig(routes, [
      virtualHost(`${ns}/svc`, ["svc.global"], [route(`${ns}/svc/all`, prefix("/"), toCluster(cluster))]),
    ]);
    const endpoints = (factor: number) => ({
      ...loadAssignment(cluster, [
        locality({ region: "west" }, [endpoint("10.2.3.1", 8080)]),
        atPriority(locality({ region: "east" }, [endpoint("10.1.3.1", 8080)]), 1),
      ]),
      policy: { overprovisioningFactor: factor },
    });
    const client = ft.sotw(clusterNode(`${ns}-north`, { app: ns }, "north"));
    client.subscribe(LDS, ["svc.global"]);
    await client.expect(LDS, [apiListener("svc.global", routes)]);
    client.subscribe(RDS, [routes]);
    await client.expect(RDS, [served]);
    client.subscribe(CDS, [cluster]);
    await client.expect(CDS, [
      edsCluster(cluster, { http2: true, extra: { outlierDetection: defaultOutlierDetection } }),
    ]);
    client.subscribe(EDS, [cluster]);
    await client.expect(EDS, [endpoints(120)]);

    await ft.apply(policy(90));
    // The route goes before its cluster (gRPC clients have no direct response for a route that fails).
    await client.expect(RDS, [routeConfig(routes, [{ name: `${ns}/svc`, domains: ["svc.global"] }])]);
    await client.expect(CDS, []);
    const statuses = await ft.statuses(ns);
    expect({ vd: statuses[`VirtualDestination/${ns}/svc`], policy: statuses[`FailoverPolicy/${ns}/order`] }).toEqual({
      vd: invalid(`spec.failoverPolicy: FailoverPolicy ${ns}/order not found or invalid`),
      policy: invalid("spec.overprovisioningFactor: 90 is under 100 (percent); traffic would leave healthy clusters"),
    });

    await ft.apply(policy(150));
    await client.expect(CDS, [
      edsCluster(cluster, { http2: true, extra: { outlierDetection: defaultOutlierDetection } }),
    ]);
    await client.expect(EDS, [endpoints(150)]);
    await client.expect(RDS, [served]);
    await client.expectQuiet();
  });

  it("a Destination gaining the selector's label joins, and changes the AccessPolicies its routes carry", async () => {
    const ns = "mcc-members";
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/bank`,
        ["bank.example.com"],
        ["public"],
        [httpRoute("ledger", [], forward([{ virtualDestination: { name: "ledger" } }]))],
      ),
      placed(destination(`${ns}/ledger-east`, 8080, ["10.1.4.1"], {}, { app: "ledger", guarded: "yes" }), ["east"]),
      placed(destination(`${ns}/ledger-west`, 8080, ["10.2.4.1"], {}, { app: "ledger-next" }), ["west"]),
      virtualDestination(`${ns}/ledger`, [{ number: 8080 }], { destinationSelector: { labels: { app: "ledger" } } }),
      accessPolicy(`${ns}/front`, {
        destinations: [{ labels: { guarded: "yes" } }],
        rules: [{ from: { namespaces: ["front"] } }],
      }),
    );
    const cluster = `virtual:${ns}/ledger:8080`;
    const allowFront = rbacRules("ALLOW", {
      [`${ns}/front/rules[0]`]: rbacPolicy(anyRequest, principals([{ prefix: "spiffe://gantry.local/ns/front/sa/" }])),
    });
    const routes = (access: { allow: ReturnType<typeof rbacRules> }) =>
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/bank`,
          ["bank.example.com"],
          [route(`${ns}/bank/ledger`, prefix("/"), toCluster(cluster), { typedPerFilterConfig: rbacPerRoute(access) })],
        ),
      ]);
    // A caller in east (an unplaced gateway: other clusters would need east-west gateways).
    const envoy = ft.sotw(clusterNode(`${ns}-east`, { gateway: ns }, "east"));
    envoy.subscribe(EDS, [cluster]);
    await envoy.expect(EDS, [loadAssignment(cluster, [locality({ region: "east" }, [endpoint("10.1.4.1", 8080)])])]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080, { filters: [...rbacListenerFilters, routerFilter] })]);
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [routes({ allow: allowFront })]);

    // ledger-west takes the label: a member now, without the policy, so the route refuses every request.
    await ft.apply(placed(destination(`${ns}/ledger-west`, 8080, ["10.2.4.1"], {}, { app: "ledger" }), ["west"]));
    // Its endpoints are not this Envoy caller's (west has no east-west gateway): EDS is unchanged.
    await envoy.expect(RDS, [routes({ allow: rbacRules("ALLOW", {}) })]);
    await envoy.expectQuiet();
    expect((await ft.statuses(ns))[`RouteTable/${ns}/bank`]).toEqual(
      warning(
        `route ${ns}/bank/ledger: the members of its VirtualDestination (or its other destinations) have different AccessPolicies; the route refuses every request (give the members the same policies)`,
      ),
    );
    // The policy now selects both members: the route carries it again.
    await ft.apply(
      placed(destination(`${ns}/ledger-west`, 8080, ["10.2.4.1"], {}, { app: "ledger", guarded: "yes" }), ["west"]),
    );
    await envoy.expect(RDS, [routes({ allow: allowFront })]);
    await envoy.expectQuiet();
    expect((await ft.statuses(ns))[`RouteTable/${ns}/bank`]).toEqual(accepted);
  });
});
