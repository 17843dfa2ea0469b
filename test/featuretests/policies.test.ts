// Policies: each kind attached to routes by label (or by destination), what it sets on the routes
// and listeners an Envoy gateway receives, and the statuses of conflicts.
import { describe, expect, it } from "vitest";
import {
  corsFilter,
  corsPolicy,
  edsCluster,
  extAuthzDisabled,
  extAuthzFilter,
  extAuthzPerRoute,
  faultFilter,
  faultPerRoute,
  listener,
  perMillion,
  prefix,
  rateLimitFilter,
  rateLimitPerRoute,
  route,
  routeConfig,
  routerFilter,
  serviceCluster,
  toCluster,
  virtualHost,
} from "./envoy.js";
import { accepted, CDS, envoyNode, featureServer, LDS, RDS } from "./harness.js";
import {
  authConfig,
  destination,
  forward,
  gateway,
  httpRoute,
  policy,
  prefixMatch,
  resource,
  routeTable,
} from "./resources.js";

const ft = featureServer();

/** A gateway and a route table in `ns` with one route per entry: path prefix → route labels. */
function store(ns: string, routes: Record<string, Record<string, string>>) {
  return [
    gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
    routeTable(
      `${ns}/store`,
      ["store.example.com"],
      ["public"],
      Object.entries(routes).map(([path, labels]) =>
        httpRoute(path.slice(1), [prefixMatch(path)], forward(["store"]), labels),
      ),
    ),
    destination(`${ns}/store`, 8080, ["10.0.6.1"]),
  ];
}

const basicAuth = { configs: [{ name: "members", basicAuth: { realm: "store", users: { member: "{SHA}x" } } }] };

describe("policies", () => {
  it("attaches every policy kind to the routes it selects, and only the filters some route needs", async () => {
    const ns = "pol-all";
    await ft.apply(
      ...store(ns, {
        "/account": { auth: "required", limited: "true" },
        "/assets": { auth: "none", cached: "true" },
        "/checkout": { auth: "required", flaky: "true" },
      }),
      authConfig(`${ns}/users`, basicAuth),
      policy("ExtAuthPolicy", `${ns}/require-login`, { auth: "required" }, { authConfig: { name: "users" } }),
      policy("ExtAuthPolicy", `${ns}/open-assets`, { auth: "none" }, { disable: true }),
      policy(
        "RateLimitPolicy",
        `${ns}/per-client`,
        { limited: "true" },
        {
          domain: "store",
          rateLimits: [
            {
              actions: [{ genericKey: { descriptorKey: "route", descriptorValue: "account" } }, { remoteAddress: {} }],
            },
            { actions: [{ requestHeaders: { headerName: "x-api-key", descriptorKey: "api_key" } }] },
          ],
          descriptors: [{ key: "api_key", rateLimit: { unit: "SECOND", requestsPerUnit: 10 } }],
        },
      ),
      policy(
        "RetryTimeoutPolicy",
        `${ns}/retry-flaky`,
        { flaky: "true" },
        {
          retry: {
            retryOn: ["5xx", "connect-failure"],
            attempts: 3,
            perTryTimeout: "0.5s",
            retriableStatusCodes: [409],
          },
          timeout: "5s",
        },
      ),
      policy(
        "FaultInjectionPolicy",
        `${ns}/chaos`,
        { flaky: "true" },
        { abort: { httpStatus: 503, percentage: 1.5 }, delay: { fixedDelay: "0.2s", percentage: 10 } },
      ),
      policy(
        "CORSPolicy",
        `${ns}/web-app`,
        { cached: "true" },
        {
          allowOrigins: ["https://app.example.com"],
          allowOriginRegexes: ["https://.*\\.preview\\.example\\.com"],
          allowMethods: ["GET", "HEAD"],
          allowHeaders: ["authorization"],
          exposeHeaders: ["x-trace"],
          maxAge: "600s",
          allowCredentials: true,
        },
      ),
      policy(
        "HeaderPolicy",
        `${ns}/security-headers`,
        {},
        {
          requestHeadersToRemove: ["x-internal-user"],
          responseHeadersToAdd: [{ name: "strict-transport-security", value: "max-age=31536000" }],
          responseHeadersToRemove: ["server"],
        },
      ),
      policy(
        "HeaderPolicy",
        `${ns}/tracing`,
        { limited: "true" },
        { requestHeadersToAdd: [{ name: "x-trace", value: "on", append: true }] },
      ),
    );

    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [
      edsCluster(`${ns}/store:8080`),
      serviceCluster("gantry-extauth"),
      serviceCluster("gantry-ratelimit"),
    ]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [
      listener(`${ns}/public/8080`, 8080, {
        filters: [corsFilter, faultFilter, extAuthzFilter, rateLimitFilter, routerFilter],
      }),
    ]);
    const headers = {
      responseHeadersToAdd: [
        {
          header: { key: "strict-transport-security", value: "max-age=31536000" },
          appendAction: "OVERWRITE_IF_EXISTS_OR_ADD",
        },
      ],
      responseHeadersToRemove: ["server"],
      requestHeadersToRemove: ["x-internal-user"],
    };
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/store`,
          ["store.example.com"],
          [
            route(
              `${ns}/store/checkout`,
              prefix("/checkout"),
              toCluster(`${ns}/store:8080`, {
                timeout: "5s",
                retryPolicy: {
                  retryOn: "5xx,connect-failure",
                  numRetries: 3,
                  perTryTimeout: "0.500s",
                  retriableStatusCodes: [409],
                },
              }),
              {
                ...headers,
                typedPerFilterConfig: {
                  "envoy.filters.http.ext_authz": extAuthzPerRoute(`${ns}/users`),
                  "envoy.filters.http.fault": faultPerRoute({
                    delay: { fixedDelay: "0.200s", percentage: perMillion(10) },
                    abort: { httpStatus: 503, percentage: perMillion(1.5) },
                  }),
                },
              },
            ),
            route(
              `${ns}/store/account`,
              prefix("/account"),
              toCluster(`${ns}/store:8080`, {
                rateLimits: [
                  {
                    actions: [
                      { genericKey: { descriptorValue: "account", descriptorKey: "route" } },
                      { remoteAddress: {} },
                    ],
                  },
                  { actions: [{ requestHeaders: { headerName: "x-api-key", descriptorKey: "api_key" } }] },
                ],
              }),
              {
                ...headers,
                // append: true is Envoy's default action (APPEND_IF_EXISTS_OR_ADD), so JSON leaves it out.
                requestHeadersToAdd: [{ header: { key: "x-trace", value: "on" } }],
                typedPerFilterConfig: {
                  "envoy.filters.http.ext_authz": extAuthzPerRoute(`${ns}/users`),
                  "envoy.filters.http.ratelimit": rateLimitPerRoute("store"),
                },
              },
            ),
            route(`${ns}/store/assets`, prefix("/assets"), toCluster(`${ns}/store:8080`), {
              ...headers,
              typedPerFilterConfig: {
                "envoy.filters.http.cors": corsPolicy({
                  allowOriginStringMatch: [
                    { exact: "https://app.example.com" },
                    { safeRegex: { regex: "https://.*\\.preview\\.example\\.com" } },
                  ],
                  allowMethods: "GET,HEAD",
                  allowHeaders: "authorization",
                  exposeHeaders: "x-trace",
                  maxAge: "600",
                  allowCredentials: true,
                }),
                "envoy.filters.http.ext_authz": extAuthzDisabled,
              },
            }),
          ],
        ),
      ]),
    ]);
    await envoy.expectQuiet();

    const statuses = await ft.statuses(ns);
    expect(statuses).toEqual({
      [`Gateway/${ns}/public`]: accepted,
      [`RouteTable/${ns}/store`]: accepted,
      [`Destination/${ns}/store`]: accepted,
      [`AuthConfig/${ns}/users`]: accepted,
      [`ExtAuthPolicy/${ns}/require-login`]: accepted,
      [`ExtAuthPolicy/${ns}/open-assets`]: accepted,
      [`RateLimitPolicy/${ns}/per-client`]: accepted,
      [`RetryTimeoutPolicy/${ns}/retry-flaky`]: accepted,
      [`FaultInjectionPolicy/${ns}/chaos`]: accepted,
      [`CORSPolicy/${ns}/web-app`]: accepted,
      [`HeaderPolicy/${ns}/security-headers`]: accepted,
      [`HeaderPolicy/${ns}/tracing`]: accepted,
    });
  });

  it("reports a second policy of a kind on a route: FAILED for ext-auth, a WARNING for the others", async () => {
    const ns = "pol-conflict";
    await ft.apply(
      ...store(ns, { "/a": { tier: "gold" } }),
      authConfig(`${ns}/first`, basicAuth),
      authConfig(`${ns}/second`, basicAuth),
      policy("ExtAuthPolicy", `${ns}/a-auth`, { tier: "gold" }, { authConfig: { name: "first" } }),
      policy("ExtAuthPolicy", `${ns}/b-auth`, { tier: "gold" }, { authConfig: { name: "second" } }),
      policy("RetryTimeoutPolicy", `${ns}/a-retry`, { tier: "gold" }, { timeout: "1s" }),
      policy("RetryTimeoutPolicy", `${ns}/b-retry`, { tier: "gold" }, { timeout: "2s" }),
      policy("CORSPolicy", `${ns}/nowhere`, { tier: "none" }, { allowOrigins: ["https://x.example"] }),
    );

    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/store`,
          ["store.example.com"],
          [
            route(`${ns}/store/a`, prefix("/a"), toCluster(`${ns}/store:8080`, { timeout: "1s" }), {
              typedPerFilterConfig: { "envoy.filters.http.ext_authz": extAuthzPerRoute(`${ns}/first`) },
            }),
          ],
        ),
      ]),
    ]);
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/public`]: accepted,
      [`RouteTable/${ns}/store`]: accepted,
      [`Destination/${ns}/store`]: accepted,
      [`AuthConfig/${ns}/first`]: accepted,
      [`AuthConfig/${ns}/second`]: accepted,
      [`ExtAuthPolicy/${ns}/a-auth`]: accepted,
      [`ExtAuthPolicy/${ns}/b-auth`]: {
        state: "FAILED",
        messages: [`route ${ns}/store/a already has a ExtAuthPolicy applied; this one is not applied there`],
      },
      [`RetryTimeoutPolicy/${ns}/a-retry`]: accepted,
      [`RetryTimeoutPolicy/${ns}/b-retry`]: {
        state: "WARNING",
        messages: [`route ${ns}/store/a already has a RetryTimeoutPolicy applied; this one is not applied there`],
      },
      [`CORSPolicy/${ns}/nowhere`]: { state: "WARNING", messages: ["selects no routes"] },
    });
  });

  it("selects routes by their destination, and a route's own timeout wins over a policy's", async () => {
    const ns = "pol-dest";
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/site`,
        ["site.example.com"],
        ["public"],
        [
          httpRoute("slow", [prefixMatch("/slow")], forward(["backend"], { timeout: "30s" })),
          httpRoute("other", [prefixMatch("/other")], forward(["frontend"])),
          httpRoute("rest", [], forward(["backend"])),
        ],
      ),
      destination(`${ns}/backend`, 80, ["10.0.8.1"], {}, { tier: "backend" }),
      destination(`${ns}/frontend`, 80, ["10.0.8.2"], {}, { tier: "frontend" }),
      resource("RetryTimeoutPolicy", `${ns}/backend-timeout`, {
        applyToDestinations: [{ destination: { labels: { tier: "backend" } } }],
        timeout: "10s",
        retry: { retryOn: ["reset"], attempts: 2 },
      }),
    );

    const envoy = ft.delta(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    const retryPolicy = { retryOn: "reset", numRetries: 2 };
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/site`,
          ["site.example.com"],
          [
            route(`${ns}/site/other`, prefix("/other"), toCluster(`${ns}/frontend:80`)),
            route(`${ns}/site/slow`, prefix("/slow"), toCluster(`${ns}/backend:80`, { timeout: "30s", retryPolicy })),
            route(`${ns}/site/rest`, prefix("/"), toCluster(`${ns}/backend:80`, { timeout: "10s", retryPolicy })),
          ],
        ),
      ]),
    ]);
  });

  it("adds the filters a new policy needs to the listener, and takes them away with it", async () => {
    const ns = "pol-change";
    await ft.apply(...store(ns, { "/a": { cors: "yes" } }));
    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080)]);
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    const plain = route(`${ns}/store/a`, prefix("/a"), toCluster(`${ns}/store:8080`));
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [virtualHost(`${ns}/store`, ["store.example.com"], [plain])]),
    ]);

    await ft.apply(policy("CORSPolicy", `${ns}/cors`, { cors: "yes" }, { allowOrigins: ["https://a.example"] }));
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080, { filters: [corsFilter, routerFilter] })]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/store`,
          ["store.example.com"],
          [
            {
              ...plain,
              typedPerFilterConfig: {
                "envoy.filters.http.cors": corsPolicy({
                  allowOriginStringMatch: [{ exact: "https://a.example" }],
                  allowCredentials: false,
                }),
              },
            },
          ],
        ),
      ]),
    ]);
    await envoy.expectQuiet();

    await ft.delete(`CORSPolicy/${ns}/cors`);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080)]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [virtualHost(`${ns}/store`, ["store.example.com"], [plain])]),
    ]);
    await envoy.expectQuiet();
  });
});
