// Routing: gateways, route tables and destinations in; the listeners, routes, clusters and
// endpoints an Envoy gateway receives out.
import { describe, expect, it } from "vitest";
import {
  directResponse,
  dnsCluster,
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
  toWeighted,
  virtualHost,
} from "./envoy.js";
import { accepted, CDS, EDS, envoyNode, featureServer, LDS, RDS } from "./harness.js";
import {
  destination,
  exactMatch,
  forward,
  gateway,
  httpRoute,
  prefixMatch,
  resource,
  routeTable,
} from "./resources.js";

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

  it("matches on headers, query parameters, methods, regexes and case, most specific route first", async () => {
    await ft.apply(
      gateway("matching/public", { gateway: "matching" }, [{ port: 8080 }]),
      routeTable(
        "matching/api",
        ["api.example.com", "api.example.org"],
        ["public"],
        [
          httpRoute("default", [], forward(["v1"])),
          httpRoute(
            "beta",
            [
              prefixMatch("/", { headers: [{ name: "x-beta", value: "true" }] }),
              prefixMatch("/", { queryParams: [{ name: "beta" }] }),
            ],
            forward(["v2"]),
          ),
          httpRoute("writes", [{ regex: "/items/[0-9]+", methods: ["PUT", "DELETE"] }], forward(["v2"])),
          httpRoute(
            "not-mobile",
            [
              prefixMatch("/app", {
                ignoreCase: true,
                headers: [{ name: "user-agent", value: ".*Mobile.*", regex: true, invertMatch: true }],
              }),
            ],
            forward(["v1"]),
          ),
          httpRoute("flagged", [exactMatch("/flag", { headers: [{ name: "x-flag" }] })], forward(["v1"])),
          httpRoute("by-query", [prefixMatch("/q", { queryParams: [{ name: "v", value: "2" }] })], forward(["v2"])),
        ],
      ),
      destination("matching/v1", 8080, ["10.0.4.1"]),
      destination("matching/v2", 8080, ["10.0.4.2"]),
    );

    const envoy = ft.sotw(envoyNode("matching-1", { gateway: "matching" }));
    envoy.subscribe(RDS, ["matching/public/8080"]);
    await envoy.expect(RDS, [
      routeConfig("matching/public/8080", [
        virtualHost(
          "matching/api",
          ["api.example.com", "api.example.org"],
          [
            route(
              "matching/api/flagged",
              path("/flag", { headers: [{ name: "x-flag", presentMatch: true }] }),
              toCluster("matching/v1:8080"),
            ),
            route(
              "matching/api/writes",
              {
                safeRegex: { regex: "/items/[0-9]+" },
                headers: [{ name: ":method", stringMatch: { safeRegex: { regex: "PUT|DELETE" } } }],
              },
              toCluster("matching/v2:8080"),
            ),
            route(
              "matching/api/not-mobile",
              prefix("/app", {
                caseSensitive: false,
                headers: [
                  { name: "user-agent", invertMatch: true, stringMatch: { safeRegex: { regex: ".*Mobile.*" } } },
                ],
              }),
              toCluster("matching/v1:8080"),
            ),
            route(
              "matching/api/by-query",
              prefix("/q", { queryParameters: [{ name: "v", stringMatch: { exact: "2" } }] }),
              toCluster("matching/v2:8080"),
            ),
            route(
              "matching/api/beta#0",
              prefix("/", { headers: [{ name: "x-beta", stringMatch: { exact: "true" } }] }),
              toCluster("matching/v2:8080"),
            ),
            route(
              "matching/api/beta#1",
              prefix("/", { queryParameters: [{ name: "beta", presentMatch: true }] }),
              toCluster("matching/v2:8080"),
            ),
            route("matching/api/default", prefix("/"), toCluster("matching/v1:8080")),
          ],
        ),
      ]),
    ]);
  });

  it("splits traffic by weight across destination subsets, one cluster per subset", async () => {
    await ft.apply(
      resource("Gateway", "split/public", { proxies: { nodeIds: ["split-1"] }, listeners: [{ port: 8080 }] }),
      routeTable(
        "split/reviews",
        ["reviews.example.com"],
        ["public"],
        [
          httpRoute(
            "reviews",
            [],
            forward([
              { destination: { name: "reviews" }, subset: "stable", weight: 80 },
              { destination: { name: "reviews" }, subset: "canary", weight: 20 },
            ]),
          ),
        ],
      ),
      destination(
        "split/reviews",
        9080,
        [
          { address: "10.0.3.1", labels: { version: "v1" } },
          { address: "10.0.3.2", labels: { version: "v1" } },
          { address: "10.0.3.3", labels: { version: "v2" } },
        ],
        {
          subsets: [
            { name: "stable", labels: { version: "v1" } },
            { name: "canary", labels: { version: "v2" } },
          ],
        },
      ),
    );

    const envoy = ft.sotw({ id: "split-1" });
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [edsCluster("split/reviews:9080/canary"), edsCluster("split/reviews:9080/stable")]);
    envoy.subscribe(EDS, ["split/reviews:9080/canary", "split/reviews:9080/stable"]);
    await envoy.expect(EDS, [
      loadAssignment("split/reviews:9080/canary", [locality({}, [endpoint("10.0.3.3", 9080)])]),
      loadAssignment("split/reviews:9080/stable", [
        locality({}, [endpoint("10.0.3.1", 9080), endpoint("10.0.3.2", 9080)]),
      ]),
    ]);
    envoy.subscribe(RDS, ["split/public/8080"]);
    await envoy.expect(RDS, [
      routeConfig("split/public/8080", [
        virtualHost(
          "split/reviews",
          ["reviews.example.com"],
          [
            route(
              "split/reviews/reviews",
              prefix("/"),
              toWeighted([
                ["split/reviews:9080/stable", 80],
                ["split/reviews:9080/canary", 20],
              ]),
            ),
          ],
        ),
      ]),
    ]);
  });

  it("answers redirects and direct responses without an upstream", async () => {
    await ft.apply(
      gateway("answers/public", { gateway: "answers" }, [{ port: 8080 }]),
      routeTable(
        "answers/legacy",
        ["old.example.com"],
        ["public"],
        [
          httpRoute("moved", [prefixMatch("/blog")], {
            redirect: { host: "blog.example.com", path: "/", https: true, responseCode: 308 },
          }),
          httpRoute("found", [exactMatch("/old")], { redirect: { path: "/new", responseCode: 302 } }),
          httpRoute("gone", [], { directResponse: { status: 410, body: "moved\n" } }),
        ],
      ),
    );

    const envoy = ft.sotw(envoyNode("answers-1", { gateway: "answers" }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, []);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener("answers/public/8080", 8080)]);
    envoy.subscribe(RDS, ["answers/public/8080"]);
    await envoy.expect(RDS, [
      routeConfig("answers/public/8080", [
        virtualHost(
          "answers/legacy",
          ["old.example.com"],
          [
            route("answers/legacy/found", path("/old"), { redirect: { pathRedirect: "/new", responseCode: "FOUND" } }),
            route("answers/legacy/moved", prefix("/blog"), {
              redirect: {
                hostRedirect: "blog.example.com",
                pathRedirect: "/",
                responseCode: "PERMANENT_REDIRECT",
                httpsRedirect: true,
              },
            }),
            route("answers/legacy/gone", prefix("/"), directResponse(410, "moved\n")),
          ],
        ),
      ]),
    ]);
    await envoy.expectQuiet();
  });

  it("builds DNS, HTTP/2 and gRPC clusters with their connect timeouts and host rewrites", async () => {
    await ft.apply(
      gateway("upstreams/public", { gateway: "upstreams" }, [{ port: 8080, bindAddress: "127.0.0.1" }]),
      routeTable(
        "upstreams/site",
        ["site.example.com"],
        ["public"],
        [
          httpRoute("dns", [prefixMatch("/dns")], forward(["external"], { hostRewrite: "api.example.net" })),
          httpRoute("h2", [prefixMatch("/h2")], forward(["h2"])),
          httpRoute("grpc", [prefixMatch("/grpc")], forward(["grpc"], { timeout: "0s" })),
        ],
      ),
      resource("Destination", "upstreams/external", {
        ports: [{ number: 443 }],
        dns: "api.example.net",
        connectTimeout: "2s",
      }),
      destination("upstreams/h2", { number: 8080, protocol: "HTTP2" }, ["10.0.9.1"]),
      destination("upstreams/grpc", { number: 9090, protocol: "GRPC" }, [{ address: "10.0.9.2", port: 9999 }]),
    );

    const envoy = ft.sotw(envoyNode("upstreams-1", { gateway: "upstreams" }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [
      dnsCluster("upstreams/external:443", "api.example.net", 443, { connectTimeout: "2s" }),
      edsCluster("upstreams/grpc:9090", { http2: true }),
      edsCluster("upstreams/h2:8080", { http2: true }),
    ]);
    envoy.subscribe(EDS, ["upstreams/grpc:9090", "upstreams/h2:8080"]);
    await envoy.expect(EDS, [
      loadAssignment("upstreams/grpc:9090", [locality({}, [endpoint("10.0.9.2", 9999)])]),
      loadAssignment("upstreams/h2:8080", [locality({}, [endpoint("10.0.9.1", 8080)])]),
    ]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener("upstreams/public/8080", 8080, { address: "127.0.0.1" })]);
    envoy.subscribe(RDS, ["upstreams/public/8080"]);
    await envoy.expect(RDS, [
      routeConfig("upstreams/public/8080", [
        virtualHost(
          "upstreams/site",
          ["site.example.com"],
          [
            route("upstreams/site/grpc", prefix("/grpc"), toCluster("upstreams/grpc:9090", { timeout: "0s" })),
            route(
              "upstreams/site/dns",
              prefix("/dns"),
              toCluster("upstreams/external:443", { hostRewriteLiteral: "api.example.net" }),
            ),
            route("upstreams/site/h2", prefix("/h2"), toCluster("upstreams/h2:8080")),
          ],
        ),
      ]),
    ]);
  });

  it("rewrites the matched prefix, or the whole path of exact and regex matches", async () => {
    const ns = "rewrite";
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/site`,
        ["site.example.com"],
        ["public"],
        [
          httpRoute("prefix", [prefixMatch("/old")], forward(["web"], { pathRewrite: "/new" })),
          httpRoute("exact", [exactMatch("/login")], forward(["web"], { pathRewrite: "/auth/login" })),
          httpRoute("regex", [{ regex: "/v[0-9]+/items" }], forward(["web"], { pathRewrite: "/items" })),
        ],
      ),
      destination(`${ns}/web`, 80, ["10.0.10.1"]),
    );
    const envoy = ft.delta(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/site`,
          ["site.example.com"],
          [
            route(`${ns}/site/exact`, path("/login"), toCluster(`${ns}/web:80`, { prefixRewrite: "/auth/login" })),
            route(
              `${ns}/site/regex`,
              { safeRegex: { regex: "/v[0-9]+/items" } },
              toCluster(`${ns}/web:80`, {
                regexRewrite: { pattern: { regex: "/v[0-9]+/items" }, substitution: "/items" },
              }),
            ),
            route(`${ns}/site/prefix`, prefix("/old"), toCluster(`${ns}/web:80`, { prefixRewrite: "/new" })),
          ],
        ),
      ]),
    ]);
  });
});
