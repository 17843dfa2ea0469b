// Statuses and isolation: what the API reports for documents it rejects, resources with problems
// (WARNING, INVALID), and that a proxy keeps its last good configuration meanwhile.
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  directResponse,
  listener,
  path,
  prefix,
  rateLimitPerRoute,
  route,
  routeConfig,
  toCluster,
  virtualHost,
} from "./envoy.js";
import { accepted, envoyNode, featureServer, LDS, RDS } from "./harness.js";
import { destination, exactMatch, forward, gateway, httpRoute, policy, resource, routeTable } from "./resources.js";

const ft = featureServer();

const warning = (...messages: string[]) => ({ state: "WARNING", messages });

describe("statuses", () => {
  it("rejects a batch with a schema error as a whole, naming the resource and field", async () => {
    const ns = "st-schema";
    const bad = resource("RouteTable", `${ns}/broken`, {
      hosts: ["x.example.com"],
      http: [{ forwardTo: { destinations: [{ destination: { name: "d" }, wieght: 2 }] } }],
    });
    const error = await ft.api
      .apply({ documents: [gateway(`${ns}/gw`, { gateway: ns }, [{ port: 8080 }]), bad] as never })
      .then(() => undefined)
      .catch((err: unknown) => ConnectError.from(err));
    expect({ code: error?.code, message: error?.rawMessage }).toEqual({
      code: Code.InvalidArgument,
      message: [
        "rejected, nothing was applied:",
        `document 2:1: RouteTable ${ns}/broken: spec.http[0].forwardTo.destinations[0].wieght: unknown field "wieght" in WeightedDestination (known: destination, port, weight, subset, virtualDestination)`,
      ].join("\n"),
    });
    // Nothing of the batch was stored, not even the valid gateway.
    expect(await ft.statuses(ns)).toEqual({});
  });

  it("warns about a route to a missing destination (it answers 500), a taken host and an unadmitted route table", async () => {
    const ns = "st-warn";
    await ft.apply(
      gateway(`${ns}/gw`, { gateway: ns }, [
        { name: "open", port: 8080 },
        { name: "strict", port: 8081, allowedRouteTables: [{ labels: { exposure: "public" } }] },
      ]),
      routeTable(
        `${ns}/a-first`,
        ["shared.example.com"],
        ["gw"],
        [httpRoute("ok", [], { directResponse: { status: 200 } })],
        {
          labels: { exposure: "public" },
        },
      ),
      routeTable(
        `${ns}/b-second`,
        ["shared.example.com"],
        ["gw"],
        [httpRoute("dup", [], { directResponse: { status: 201 } })],
      ),
      routeTable(
        `${ns}/c-missing`,
        ["missing.example.com"],
        ["gw"],
        [httpRoute("lost", [exactMatch("/x")], forward(["nowhere"]))],
      ),
      routeTable(
        `${ns}/d-no-gateway`,
        ["orphan.example.com"],
        ["absent"],
        [httpRoute("r", [], { directResponse: { status: 200 } })],
      ),
    );

    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/gw/open`, 8080), listener(`${ns}/gw/strict`, 8081)]);
    envoy.subscribe(RDS, [`${ns}/gw/open`, `${ns}/gw/strict`]);
    const first = virtualHost(
      `${ns}/a-first`,
      ["shared.example.com"],
      [route(`${ns}/a-first/ok`, prefix("/"), directResponse(200))],
    );
    await envoy.expect(RDS, [
      routeConfig(`${ns}/gw/open`, [
        first,
        virtualHost(
          `${ns}/c-missing`,
          ["missing.example.com"],
          [route(`${ns}/c-missing/lost`, path("/x"), directResponse(500, `route ${ns}/c-missing/lost is invalid\n`))],
        ),
      ]),
      routeConfig(`${ns}/gw/strict`, [first]),
    ]);
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/gw`]: accepted,
      [`RouteTable/${ns}/a-first`]: accepted,
      [`RouteTable/${ns}/b-second`]: warning(
        `spec.hosts: "shared.example.com" is already served by RouteTable ${ns}/a-first on Gateway/${ns}/gw listener open; not here`,
        // Admitted by "open", where it lost its host; "strict" wants a label it does not have.
        `not served by any listener of Gateway ${ns}/gw (hosts shared.example.com; labels none): listener open (port 8080) admits it, but another route table serves each of its hosts there; listener strict (port 8081): spec.listeners[1].allowedRouteTables[0] wants labels exposure=public`,
        "not attached to any gateway listener",
      ),
      [`RouteTable/${ns}/c-missing`]: warning(
        `spec.http[0] (lost): spec.http[0].forwardTo.destinations[0].destination: Destination ${ns}/nowhere not found or invalid; the route answers 500`,
      ),
      [`RouteTable/${ns}/d-no-gateway`]: warning(
        `spec.gateways[0]: Gateway ${ns}/absent not found`,
        "not attached to any gateway listener",
      ),
    });
  });

  it("marks what fails Envoy's validation INVALID and keeps the proxy on its last good config", async () => {
    const ns = "st-invalid";
    const limited = (descriptorValue: string) =>
      policy(
        "RateLimitPolicy",
        `${ns}/limit`,
        { x: "y" },
        { rateLimits: [{ actions: [{ genericKey: { descriptorValue } }] }] },
      );
    const routes = (descriptorValue: string) =>
      routeConfig(`${ns}/gw/8080`, [
        virtualHost(
          `${ns}/site`,
          ["site.example.com"],
          [
            route(
              `${ns}/site/r`,
              prefix("/"),
              toCluster(`${ns}/d:80`, { rateLimits: [{ actions: [{ genericKey: { descriptorValue } }] }] }),
              { typedPerFilterConfig: { "envoy.filters.http.ratelimit": rateLimitPerRoute("gantry") } },
            ),
          ],
        ),
      ]);
    await ft.apply(
      gateway(`${ns}/gw`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(`${ns}/site`, ["site.example.com"], ["gw"], [httpRoute("r", [], forward(["d"]), { x: "y" })]),
      destination(`${ns}/d`, 80, ["10.8.1.1"]),
      limited("a"),
    );
    const envoy = ft.delta(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/gw/8080`]);
    await envoy.expect(RDS, [routes("a")]);

    // Envoy requires a generic key's value: the whole gateway's new config is held back.
    await ft.apply(limited(""));
    await envoy.expectQuiet();
    const why = `rejected by validation for Gateway ${ns}/gw: route ${ns}/site/r: route.rate_limits[0].actions[0].generic_key.descriptor_value: must not be empty`;
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/gw`]: { state: "INVALID", messages: ["the proxies keep their last good configuration"] },
      [`RouteTable/${ns}/site`]: { state: "INVALID", messages: [why] },
      [`Destination/${ns}/d`]: { state: "INVALID", messages: [why] },
      [`RateLimitPolicy/${ns}/limit`]: { state: "INVALID", messages: [why] },
    });

    await ft.apply(limited("b"));
    await envoy.expect(RDS, [routes("b")]);
    await envoy.expectQuiet();
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/gw`]: accepted,
      [`RouteTable/${ns}/site`]: accepted,
      [`Destination/${ns}/d`]: accepted,
      [`RateLimitPolicy/${ns}/limit`]: accepted,
    });
  });

  it("marks a resource INVALID that fails Gantry's own checks, and serves the rest", async () => {
    const ns = "st-own";
    await ft.apply(
      gateway(`${ns}/gw`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/site`,
        ["site.example.com"],
        ["gw"],
        [httpRoute("r", [], { directResponse: { status: 200 } }, { x: "y" })],
      ),
      policy("HeaderPolicy", `${ns}/bad`, { x: "y" }, { requestHeadersToAdd: [{ name: "bad name", value: "v" }] }),
      policy("FaultInjectionPolicy", `${ns}/worse`, { x: "y" }, { abort: { httpStatus: 700, percentage: 5 } }),
    );
    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/gw/8080`]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/gw/8080`, [
        virtualHost(`${ns}/site`, ["site.example.com"], [route(`${ns}/site/r`, prefix("/"), directResponse(200))]),
      ]),
    ]);
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/gw`]: accepted,
      [`RouteTable/${ns}/site`]: accepted,
      [`HeaderPolicy/${ns}/bad`]: {
        state: "INVALID",
        messages: ['spec.requestHeadersToAdd[0].name: "bad name" is not a valid lowercase header name'],
      },
      [`FaultInjectionPolicy/${ns}/worse`]: { state: "INVALID", messages: ["spec.abort.httpStatus: must be 200..599"] },
    });
  });

  it("reports a missing secret on the gateway, whose listener is not served", async () => {
    const ns = "st-secret";
    await ft.apply(
      gateway(`${ns}/gw`, { gateway: ns }, [{ port: 443, protocol: "HTTPS", tls: { secret: { name: "absent" } } }]),
      destination(`${ns}/d`, 80, ["10.8.0.1"]),
    );
    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(LDS);
    await envoy.expect(LDS, []);
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/gw`]: {
        state: "INVALID",
        messages: [`spec.listeners[0].tls.secret: Secret ${ns}/absent not found or invalid`],
      },
      [`Destination/${ns}/d`]: accepted,
    });
  });
});
