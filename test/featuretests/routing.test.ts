// Routing: gateways, route tables and destinations in; the listeners, routes, clusters and
// endpoints an Envoy gateway receives out.
import { describe, expect, it } from "vitest";
import {
  directResponse,
  edsCluster,
  endpoint,
  listener,
  loadAssignment,
  locality,
  path,
  prefix,
  route,
  routeConfig,
  toCluster,
  virtualHost,
} from "./envoy.js";
import { accepted, CDS, EDS, envoyNode, featureServer, LDS, RDS } from "./harness.js";
import { destination, exactMatch, forward, gateway, httpRoute, prefixMatch, routeTable } from "./resources.js";

const ft = featureServer();

describe("routing", () => {
  it("serves a gateway's listener, routes, clusters and endpoints to the Envoy nodes it selects", async () => {
    await ft.apply(
      gateway("basic/public", { gateway: "basic" }, [{ name: "http", port: 8080 }]),
      routeTable(
        "basic/shop",
        ["shop.example.com"],
        ["public"],
        [
          httpRoute("health", [exactMatch("/healthz")], { directResponse: { status: 200, body: "ok\n" } }),
          httpRoute("catalog", [prefixMatch("/catalog")], forward(["catalog"], { pathRewrite: "/v1", timeout: "3s" })),
          httpRoute("rest", [], forward(["web"])),
        ],
      ),
      destination("basic/catalog", 8080, [
        { address: "10.0.1.10", locality: { region: "eu", zone: "eu-1a" } },
        { address: "10.0.1.11", locality: { region: "eu", zone: "eu-1b" }, weight: 2 },
      ]),
      destination("basic/web", { number: 80, targetPort: 8000 }, ["10.0.2.10"]),
    );

    const envoy = ft.sotw(envoyNode("basic-1", { gateway: "basic" }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [edsCluster("basic/catalog:8080"), edsCluster("basic/web:80")]);
    envoy.subscribe(EDS, ["basic/catalog:8080", "basic/web:80"]);
    await envoy.expect(EDS, [
      loadAssignment("basic/catalog:8080", [
        locality({ region: "eu", zone: "eu-1a" }, [endpoint("10.0.1.10", 8080)]),
        locality({ region: "eu", zone: "eu-1b" }, [endpoint("10.0.1.11", 8080, 2)]),
      ]),
      loadAssignment("basic/web:80", [locality({}, [endpoint("10.0.2.10", 8000)])]),
    ]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener("basic/public/http", 8080)]);
    envoy.subscribe(RDS, ["basic/public/http"]);
    await envoy.expect(RDS, [
      routeConfig("basic/public/http", [
        virtualHost(
          "basic/shop",
          ["shop.example.com"],
          [
            route("basic/shop/health", path("/healthz"), directResponse(200, "ok\n")),
            route(
              "basic/shop/catalog",
              prefix("/catalog"),
              toCluster("basic/catalog:8080", { prefixRewrite: "/v1", timeout: "3s" }),
            ),
            route("basic/shop/rest", prefix("/"), toCluster("basic/web:80")),
          ],
        ),
      ]),
    ]);
    await envoy.expectQuiet();

    expect(await ft.statuses("basic")).toEqual({
      "Gateway/basic/public": accepted,
      "RouteTable/basic/shop": accepted,
      "Destination/basic/catalog": accepted,
      "Destination/basic/web": accepted,
    });
  });
});
