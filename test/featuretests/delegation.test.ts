// Delegation: a parent route hands a prefix to child route tables, chosen by ref or labels; the
// children are flattened into the parent's virtual host. Problems are statuses, the rest is served.
import { describe, expect, it } from "vitest";
import {
  directResponse,
  extAuthzDisabled,
  extAuthzPerRoute,
  path,
  prefix,
  route,
  routeConfig,
  toCluster,
  virtualHost,
} from "./envoy.js";
import { accepted, envoyNode, featureServer, RDS } from "./harness.js";
import {
  authConfig,
  childTable,
  destination,
  exactMatch,
  forward,
  gateway,
  httpRoute,
  policy,
  prefixMatch,
  routeTable,
} from "./resources.js";

const ft = featureServer();

const rds = (ns: string, routes: ReturnType<typeof route>[]) =>
  routeConfig(`${ns}/public/8080`, [virtualHost(`${ns}/root`, ["example.com"], routes)]);

describe("delegation", () => {
  it("flattens children chosen by labels (higher weight first) and by ref; policies see merged labels", async () => {
    const ns = "deleg";
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/root`,
        ["example.com"],
        ["public"],
        [
          httpRoute(
            "api",
            [prefixMatch("/api")],
            { delegate: { routeTables: [{ labels: { team: "api" } }] } },
            {
              exposure: "public",
            },
          ),
          httpRoute("admin", [prefixMatch("/admin", { headers: [{ name: "x-admin" }] })], {
            delegate: { routeTables: [{ ref: { name: "admin" } }] },
          }),
        ],
      ),
      childTable(
        `${ns}/orders`,
        [httpRoute("orders", [prefixMatch("/api/orders")], forward(["orders"]))],
        { team: "api" },
        10,
      ),
      childTable(
        `${ns}/users`,
        [httpRoute("users", [prefixMatch("/api/users")], forward(["users"]), { auth: "yes" })],
        { team: "api" },
        20,
      ),
      childTable(`${ns}/admin`, [
        httpRoute("panel", [exactMatch("/admin/panel", { methods: ["GET"] })], forward(["users"])),
      ]),
      destination(`${ns}/orders`, 8080, ["10.6.0.1"]),
      destination(`${ns}/users`, 8080, ["10.6.0.2"]),
      authConfig(`${ns}/login`, { configs: [{ name: "members", basicAuth: { realm: "r", users: { a: "{SHA}x" } } }] }),
      // Selects the users route only through its parent's label and its own together.
      policy("ExtAuthPolicy", `${ns}/login`, { exposure: "public", auth: "yes" }, { authConfig: { name: "login" } }),
    );

    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    // Once a listener runs ext_authz, the routes no ExtAuthPolicy selects turn it off.
    const noAuth = { typedPerFilterConfig: { "envoy.filters.http.ext_authz": extAuthzDisabled } };
    await envoy.expect(RDS, [
      rds(ns, [
        route(
          `${ns}/root/admin > ${ns}/admin/panel`,
          path("/admin/panel", {
            headers: [
              { name: "x-admin", presentMatch: true },
              { name: ":method", stringMatch: { exact: "GET" } },
            ],
          }),
          toCluster(`${ns}/users:8080`),
          noAuth,
        ),
        route(`${ns}/root/api > ${ns}/orders/orders`, prefix("/api/orders"), toCluster(`${ns}/orders:8080`), noAuth),
        route(`${ns}/root/api > ${ns}/users/users`, prefix("/api/users"), toCluster(`${ns}/users:8080`), {
          typedPerFilterConfig: { "envoy.filters.http.ext_authz": extAuthzPerRoute(`${ns}/login`) },
        }),
      ]),
    ]);
    await envoy.expectQuiet();
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/public`]: accepted,
      [`RouteTable/${ns}/root`]: accepted,
      [`RouteTable/${ns}/orders`]: accepted,
      [`RouteTable/${ns}/users`]: accepted,
      [`RouteTable/${ns}/admin`]: accepted,
      [`Destination/${ns}/orders`]: accepted,
      [`Destination/${ns}/users`]: accepted,
      [`AuthConfig/${ns}/login`]: accepted,
      [`ExtAuthPolicy/${ns}/login`]: accepted,
    });

    // A child's weight orders siblings only where their routes tie on specificity; here the longer
    // prefix comes first anyway, so a new weight changes nothing on the wire.
    await ft.apply(
      childTable(
        `${ns}/orders`,
        [httpRoute("orders", [prefixMatch("/api/orders")], forward(["orders"]))],
        { team: "api" },
        30,
      ),
    );
    await envoy.expectQuiet();
  });

  it("skips and reports children outside the parent's prefix, children naming gateways and cycles", async () => {
    const ns = "deleg-bad";
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/root`,
        ["example.com"],
        ["public"],
        [
          httpRoute("api", [prefixMatch("/api")], { delegate: { routeTables: [{ labels: { team: "api" } }] } }),
          httpRoute("loop", [prefixMatch("/loop")], { delegate: { routeTables: [{ ref: { name: "loop-a" } }] } }),
        ],
      ),
      childTable(`${ns}/outside`, [httpRoute("web", [prefixMatch("/web")], forward(["app"]))], { team: "api" }),
      childTable(`${ns}/good`, [httpRoute("ok", [prefixMatch("/api/ok")], { directResponse: { status: 200 } })], {
        team: "api",
      }),
      routeTable(
        `${ns}/rogue`,
        ["rogue.example.com"],
        ["public"],
        [httpRoute("x", [prefixMatch("/api/x")], forward(["app"]))],
        {
          labels: { team: "api" },
        },
      ),
      childTable(`${ns}/loop-a`, [
        httpRoute("to-b", [prefixMatch("/loop/b")], { delegate: { routeTables: [{ ref: { name: "loop-b" } }] } }),
      ]),
      childTable(`${ns}/loop-b`, [
        httpRoute("to-a", [prefixMatch("/loop/b/a")], { delegate: { routeTables: [{ ref: { name: "loop-a" } }] } }),
        httpRoute("leaf", [prefixMatch("/loop/b/leaf")], { directResponse: { status: 204 } }),
      ]),
      destination(`${ns}/app`, 80, ["10.6.1.1"]),
    );

    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/rogue`,
          ["rogue.example.com"],
          [route(`${ns}/rogue/x`, prefix("/api/x"), toCluster(`${ns}/app:80`))],
        ),
        virtualHost(
          `${ns}/root`,
          ["example.com"],
          [
            route(
              `${ns}/root/loop > ${ns}/loop-a/to-b > ${ns}/loop-b/leaf`,
              prefix("/loop/b/leaf"),
              directResponse(204),
            ),
            route(`${ns}/root/api > ${ns}/good/ok`, prefix("/api/ok"), directResponse(200)),
          ],
        ),
      ]),
    ]);
    const warning = (...messages: string[]) => ({ state: "WARNING", messages });
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/public`]: accepted,
      [`Destination/${ns}/app`]: accepted,
      [`RouteTable/${ns}/good`]: accepted,
      [`RouteTable/${ns}/root`]: warning(
        `spec.http[0] (api): RouteTable ${ns}/rogue names gateways; a delegation child may not, so it is skipped`,
      ),
      [`RouteTable/${ns}/rogue`]: warning(`delegated to by ${ns}/root but names gateways; not used as a child`),
      [`RouteTable/${ns}/outside`]: warning(
        `spec.http[0] (web): path prefix "/web" is not under the parent's prefix "/api"`,
      ),
      [`RouteTable/${ns}/loop-a`]: warning(`part of a delegation cycle: ${ns}/loop-a → ${ns}/loop-b → ${ns}/loop-a`),
      [`RouteTable/${ns}/loop-b`]: warning(
        `spec.http[0] (to-a): delegation cycle: ${ns}/loop-a → ${ns}/loop-b → ${ns}/loop-a; RouteTable ${ns}/loop-a is skipped here`,
      ),
    });
  });
});
