// Which proxies get what: gateways select nodes by labels or ids (a node can take several), route
// tables attach to gateways across namespaces, and listeners admit only the route tables they allow.
import { describe, expect, it } from "vitest";
import {
  apiListener,
  directResponse,
  edsCluster,
  listener,
  prefix,
  route,
  routeConfig,
  toCluster,
  virtualHost,
} from "./envoy.js";
import { accepted, CDS, envoyNode, featureServer, LDS, RDS } from "./harness.js";
import { destination, forward, gateway, grpcGateway, httpRoute, resource, routeTable } from "./resources.js";

const ft = featureServer();

const ok = (status = 200) => ({ directResponse: { status } });

describe("attachment", () => {
  it("gives a node selected by two gateways the union of their resources", async () => {
    const ns = "at-union";
    await ft.apply(
      gateway(`${ns}/by-label`, { gateway: ns }, [{ port: 8080 }]),
      resource("Gateway", `${ns}/by-id`, { proxies: { nodeIds: [`${ns}-1`] }, listeners: [{ port: 9090 }] }),
      routeTable(`${ns}/one`, ["one.example.com"], ["by-label"], [httpRoute("r", [], forward(["one"]))]),
      routeTable(`${ns}/two`, ["two.example.com"], ["by-id"], [httpRoute("r", [], forward(["two"]))]),
      destination(`${ns}/one`, 80, ["10.12.0.1"]),
      destination(`${ns}/two`, 80, ["10.12.0.2"]),
    );
    const both = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    both.subscribe(CDS);
    await both.expect(CDS, [edsCluster(`${ns}/one:80`), edsCluster(`${ns}/two:80`)]);
    both.subscribe(LDS);
    await both.expect(LDS, [listener(`${ns}/by-id/9090`, 9090), listener(`${ns}/by-label/8080`, 8080)]);

    const labelOnly = ft.sotw(envoyNode(`${ns}-2`, { gateway: ns }));
    labelOnly.subscribe(LDS);
    await labelOnly.expect(LDS, [listener(`${ns}/by-label/8080`, 8080)]);

    // A node no gateway selects gets empty full-state answers.
    const nobody = ft.sotw(envoyNode(`${ns}-3`, { gateway: "other" }));
    nobody.subscribe(CDS);
    await nobody.expect(CDS, []);
  });

  it("attaches route tables across namespaces, admitted by namespace or host; routes are named route-<index> by default", async () => {
    const infra = "at-infra";
    const team = "at-team";
    await ft.apply(
      gateway(`${infra}/edge`, { gateway: infra }, [
        { name: "team-only", port: 8080, allowedRouteTables: [{ namespace: team }] },
        { name: "host-b", port: 8081, allowedRouteTables: [{ host: "b.example.com" }] },
      ]),
      resource("RouteTable", `${team}/a`, {
        hosts: ["a.example.com"],
        gateways: [{ name: "edge", namespace: infra }],
        http: [{ directResponse: { status: 200 } }, { directResponse: { status: 201 } }],
      }),
      resource("RouteTable", `${infra}/b`, {
        hosts: ["b.example.com"],
        gateways: [{ name: "edge" }],
        http: [{ name: "b", directResponse: { status: 202 } }],
      }),
    );
    const envoy = ft.sotw(envoyNode(`${infra}-1`, { gateway: infra }));
    envoy.subscribe(RDS, [`${infra}/edge/host-b`, `${infra}/edge/team-only`]);
    await envoy.expect(RDS, [
      routeConfig(`${infra}/edge/team-only`, [
        virtualHost(
          `${team}/a`,
          ["a.example.com"],
          [
            // Both match everything; the written order decides.
            route(`${team}/a/route-0`, prefix("/"), directResponse(200)),
            route(`${team}/a/route-1`, prefix("/"), directResponse(201)),
          ],
        ),
      ]),
      routeConfig(`${infra}/edge/host-b`, [
        virtualHost(`${infra}/b`, ["b.example.com"], [route(`${infra}/b/b`, prefix("/"), directResponse(202))]),
      ]),
    ]);
    expect({ ...(await ft.statuses(infra)), ...(await ft.statuses(team)) }).toEqual({
      [`Gateway/${infra}/edge`]: accepted,
      [`RouteTable/${infra}/b`]: accepted,
      [`RouteTable/${team}/a`]: accepted,
    });
  });

  it("gives a proxyless client listeners only for the route tables its gateway allows", async () => {
    const ns = "at-grpc";
    await ft.apply(
      grpcGateway(`${ns}/mesh`, { app: ns }, { allowedRouteTables: [{ labels: { mesh: "yes" } }] }),
      routeTable(`${ns}/in`, ["in.grpc.example"], ["mesh"], [httpRoute("r", [], forward(["svc"]))], {
        labels: { mesh: "yes" },
      }),
      routeTable(`${ns}/out`, ["out.grpc.example"], ["mesh"], [httpRoute("r", [], ok())]),
      destination(`${ns}/svc`, { number: 9000, protocol: "GRPC" }, ["10.12.1.1"]),
    );
    const client = ft.delta({ id: `${ns}-1`, metadata: { app: ns } });
    client.subscribe(LDS, ["in.grpc.example", "out.grpc.example"]);
    await client.expect(LDS, [apiListener("in.grpc.example", `${ns}/mesh/grpc/in.grpc.example`)], ["out.grpc.example"]);
    client.subscribe(RDS, [`${ns}/mesh/grpc/in.grpc.example`]);
    await client.expect(RDS, [
      routeConfig(`${ns}/mesh/grpc/in.grpc.example`, [
        virtualHost(`${ns}/in`, ["in.grpc.example"], [route(`${ns}/in/r`, prefix("/"), toCluster(`${ns}/svc:9000`))]),
      ]),
    ]);
    expect((await ft.statuses(ns))[`RouteTable/${ns}/out`]).toEqual({
      state: "WARNING",
      messages: [
        `not admitted by any listener of Gateway ${ns}/mesh (hosts out.grpc.example; labels none): its gRPC clients: spec.allowedRouteTables[0] wants labels mesh=yes`,
        "not attached to any gateway listener",
      ],
    });
  });
});
