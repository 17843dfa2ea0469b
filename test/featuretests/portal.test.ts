// The developer portal's kinds: UsagePlans become the rate-limit servers' rules (domain
// gantry-portal, per API key), ApiProducts put rate-limit actions on their route tables' routes, and
// a Portal publishes products; each with its statuses (docs/portal.md). Rate-limit nodes see every
// namespace, so each test clears its own.
// (Over 400 lines: the three kinds are tested together, sharing the rate-limit builders below.)
import type { JsonObject as Json } from "@bufbuild/protobuf";
import { describe, expect, it, onTestFinished } from "vitest";
import {
  edsCluster,
  extAuthzFilter,
  extAuthzPerRoute,
  listener,
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
import {
  AUTH,
  accepted,
  CDS,
  envoyNode,
  featureServer,
  invalid,
  LDS,
  RDS,
  RLS,
  type StatusView,
  serviceNode,
  warning,
} from "./harness.js";
import {
  apiProduct,
  authConfig,
  childTable,
  destination,
  forward,
  gateway,
  httpRoute,
  policy,
  portal,
  prefixMatch,
  routeTable,
  usagePlan,
} from "./resources.js";

const ft = featureServer();

/** The rate-limit actions of a product's routes: the product, then the key's plan and id from ext-auth. */
function productActions(product: string): Json {
  const fromKey = (descriptorKey: string, path: string[]) => ({
    metadata: {
      descriptorKey,
      metadataKey: { key: "envoy.filters.http.ext_authz", path: path.map((key) => ({ key })) },
    },
  });
  return {
    rateLimits: [
      {
        actions: [
          { genericKey: { descriptorValue: product, descriptorKey: "portal_product" } },
          fromKey("portal_plan", ["api_key", "metadata", "plan"]),
          fromKey("api_key", ["api_key", "id"]),
        ],
      },
    ],
  };
}

/** One plan's rule: each API key counted on its own (per-key statistics), the first unit the limit. */
function planRule(plan: string, limits: Array<[unit: string, requestsPerUnit: number]>): Json {
  const [first, ...more] = limits.map(([unit, requestsPerUnit]) => ({ unit, requestsPerUnit }));
  return {
    key: "portal_plan",
    value: plan,
    descriptors: [
      {
        key: "api_key",
        detailedMetric: true,
        rateLimit: first ?? {},
        ...(more.length ? { additionalLimits: more } : {}),
      },
    ],
  };
}

const portalConfig = (products: Array<[product: string, plans: Json[]]>): Json => ({
  name: "gantry-portal",
  domain: "gantry-portal",
  descriptors: products.map(([value, descriptors]) => ({ key: "portal_product", value, descriptors })),
});

const openapi = (paths: Record<string, string[]>) =>
  JSON.stringify({
    openapi: "3.0.3",
    info: { title: "Pets", version: "1.0" },
    paths: Object.fromEntries(
      Object.entries(paths).map(([path, methods]) => [
        path,
        Object.fromEntries(methods.map((m) => [m, { responses: { "200": { description: "ok" } } }])),
      ]),
    ),
  });

describe("ApiProduct and UsagePlan", () => {
  it("rate-limits the product's routes per API key and plan, and serves the plans to rate-limit servers", {
    timeout: 60_000,
  }, async () => {
    const ns = "portal";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/pets`,
        ["pets.example.com"],
        ["public"],
        [
          httpRoute("pets", [prefixMatch("/pets")], forward(["pets"])),
          httpRoute("admin", [prefixMatch("/admin")], forward(["pets"])),
        ],
      ),
      routeTable(`${ns}/other`, ["other.example.com"], ["public"], [httpRoute("all", [], forward(["pets"]))]),
      destination(`${ns}/pets`, 8080, ["10.5.0.1"]),
      usagePlan(`${ns}/free`, { perSecond: 2, perDay: 1000 }, { title: "Free" }),
      usagePlan(`${ns}/gold`, { perMinute: 600, perMonth: 100000 }),
      usagePlan(`${ns}/broken`, {}),
      apiProduct(`${ns}/pets`, {
        title: "Pet store",
        routeTables: [{ name: "pets" }, { name: "nope" }],
        usagePlans: [{ name: "gold" }, { name: "free" }, { name: "broken" }, { name: "gold" }, { name: "absent" }],
        openapi: { inline: openapi({ "/pets": ["get"], "/orders": ["post"] }) },
      }),
    );

    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [edsCluster(`${ns}/pets:8080`), serviceCluster("gantry-ratelimit")]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080, { filters: [rateLimitFilter, routerFilter] })]);
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    const limited = { typedPerFilterConfig: { "envoy.filters.http.ratelimit": rateLimitPerRoute("gantry-portal") } };
    const petsHost = (limits: boolean) =>
      virtualHost(
        `${ns}/pets`,
        ["pets.example.com"],
        // Longer prefixes first.
        [
          route(
            `${ns}/pets/admin`,
            prefix("/admin"),
            toCluster(`${ns}/pets:8080`, limits ? productActions(`${ns}/pets`) : {}),
            limits ? limited : {},
          ),
          route(
            `${ns}/pets/pets`,
            prefix("/pets"),
            toCluster(`${ns}/pets:8080`, limits ? productActions(`${ns}/pets`) : {}),
            limits ? limited : {},
          ),
        ],
      );
    const otherHost = virtualHost(
      `${ns}/other`,
      ["other.example.com"],
      [route(`${ns}/other/all`, prefix("/"), toCluster(`${ns}/pets:8080`))],
    );
    await envoy.expect(RDS, [routeConfig(`${ns}/public/8080`, [otherHost, petsHost(true)])]);
    await envoy.expectQuiet();

    const ratelimit = ft.delta(serviceNode(`${ns}-ratelimit`, "ratelimit"));
    ratelimit.subscribe(RLS);
    await ratelimit.expect(RLS, [
      portalConfig([
        [
          `${ns}/pets`,
          [
            planRule(`${ns}/free`, [
              ["SECOND", 2],
              ["DAY", 1000],
            ]),
            planRule(`${ns}/gold`, [
              ["MINUTE", 600],
              ["MONTH", 100000],
            ]),
          ],
        ],
      ]),
    ]);

    // The OpenAPI check runs off the translation; its warnings join the status once it is done.
    const productStatus: StatusView = warning(
      `spec.routeTables[1]: RouteTable ${ns}/nope not found`,
      `spec.usagePlans[2]: UsagePlan ${ns}/broken is invalid; not offered`,
      `spec.usagePlans[3]: UsagePlan ${ns}/gold is already listed at spec.usagePlans[0]`,
      `spec.usagePlans[4]: UsagePlan ${ns}/absent not found; not offered`,
      "spec.openapi: operation POST /orders: no route of the product's route tables serves it",
      `spec.openapi: route ${ns}/pets/admin: the OpenAPI document documents no operation it serves`,
    );
    await expect
      .poll(async () => (await ft.statuses(ns))[`ApiProduct/${ns}/pets`], { timeout: 20_000, interval: 50 })
      .toEqual(productStatus);
    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/public`]: accepted,
      [`RouteTable/${ns}/pets`]: accepted,
      [`RouteTable/${ns}/other`]: accepted,
      [`Destination/${ns}/pets`]: accepted,
      [`UsagePlan/${ns}/free`]: accepted,
      [`UsagePlan/${ns}/gold`]: accepted,
      [`UsagePlan/${ns}/broken`]: invalid(
        "spec.limits: at least one of perSecond, perMinute, perDay, perMonth is required",
      ),
      [`ApiProduct/${ns}/pets`]: productStatus,
    });

    // Another document: the old one's warnings go, the new one's come once its check ends. Nothing else changes.
    await ft.apply(
      apiProduct(`${ns}/pets`, {
        title: "Pet store",
        routeTables: [{ name: "pets" }, { name: "nope" }],
        usagePlans: [{ name: "gold" }, { name: "free" }, { name: "broken" }, { name: "gold" }, { name: "absent" }],
        openapi: { inline: openapi({ "/pets": ["get"], "/admin/users": ["get"], "/stores": ["get"] }) },
      }),
    );
    await expect
      .poll(async () => (await ft.statuses(ns))[`ApiProduct/${ns}/pets`], { timeout: 20_000, interval: 50 })
      .toEqual({
        ...productStatus,
        messages: [
          ...productStatus.messages.slice(0, 4),
          "spec.openapi: operation GET /stores: no route of the product's route tables serves it",
        ],
      });
    await envoy.expectQuiet();
    await ratelimit.expectQuiet();

    // A plan's limits change: only the rate-limit servers' rules do.
    await ft.apply(usagePlan(`${ns}/gold`, { perMinute: 1200 }));
    await ratelimit.expect(RLS, [
      portalConfig([
        [
          `${ns}/pets`,
          [
            planRule(`${ns}/free`, [
              ["SECOND", 2],
              ["DAY", 1000],
            ]),
            planRule(`${ns}/gold`, [["MINUTE", 1200]]),
          ],
        ],
      ]),
    ]);
    await envoy.expectQuiet();

    // The product gone: its routes lose their rate limits, the portal domain its last product.
    await ft.delete(`ApiProduct/${ns}/pets`);
    // Listeners and routes stop using the rate-limit service before its cluster goes.
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080)]);
    await envoy.expect(RDS, [routeConfig(`${ns}/public/8080`, [otherHost, petsHost(false)])]);
    await envoy.expect(CDS, [edsCluster(`${ns}/pets:8080`)]);
    await ratelimit.expect(RLS, [], ["gantry-portal"]);
    await envoy.expectQuiet();
    await ratelimit.expectQuiet();
  });

  it("covers delegated children; a product's plans win over a RateLimitPolicy; the portal domain is reserved", async () => {
    const ns = "portal-rl";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/pets`,
        ["pets.example.com"],
        ["public"],
        [
          httpRoute("v2", [prefixMatch("/v2")], { delegate: { routeTables: [{ ref: { name: "pets-v2" } }] } }),
          httpRoute("all", [], forward(["pets"]), { app: "pets" }),
        ],
      ),
      childTable(`${ns}/pets-v2`, [httpRoute("list", [prefixMatch("/v2/pets")], forward(["pets"]))]),
      destination(`${ns}/pets`, 8080, ["10.5.1.1"]),
      usagePlan(`${ns}/free`, { perSecond: 1 }),
      apiProduct(`${ns}/pets`, { routeTables: [{ name: "pets" }], usagePlans: [{ name: "free" }] }),
      policy(
        "RateLimitPolicy",
        `${ns}/per-ip`,
        { app: "pets" },
        {
          domain: "pets",
          rateLimits: [{ actions: [{ remoteAddress: {} }] }],
          descriptors: [{ key: "remote_address", rateLimit: { unit: "SECOND", requestsPerUnit: 5 } }],
        },
      ),
      policy(
        "RateLimitPolicy",
        `${ns}/squatter`,
        { app: "none" },
        {
          domain: "gantry-portal",
          descriptors: [{ key: "portal_product", rateLimit: { unit: "SECOND", requestsPerUnit: 5 } }],
        },
      ),
    );
    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/pets`,
          ["pets.example.com"],
          // A delegated child's routes pass through the product's route table: they are the product's too.
          [
            route(
              `${ns}/pets/v2 > ${ns}/pets-v2/list`,
              prefix("/v2/pets"),
              toCluster(`${ns}/pets:8080`, productActions(`${ns}/pets`)),
              {
                typedPerFilterConfig: { "envoy.filters.http.ratelimit": rateLimitPerRoute("gantry-portal") },
              },
            ),
            route(`${ns}/pets/all`, prefix("/"), toCluster(`${ns}/pets:8080`, productActions(`${ns}/pets`)), {
              typedPerFilterConfig: { "envoy.filters.http.ratelimit": rateLimitPerRoute("gantry-portal") },
            }),
          ],
        ),
      ]),
    ]);
    const ratelimit = ft.sotw(serviceNode(`${ns}-ratelimit`, "ratelimit"));
    ratelimit.subscribe(RLS);
    await ratelimit.expect(RLS, [
      portalConfig([[`${ns}/pets`, [planRule(`${ns}/free`, [["SECOND", 1]])]]]),
      {
        name: "pets",
        domain: "pets",
        descriptors: [{ key: "remote_address", rateLimit: { unit: "SECOND", requestsPerUnit: 5 } }],
      },
    ]);
    const statuses = await ft.statuses(ns);
    expect({
      product: statuses[`ApiProduct/${ns}/pets`],
      perIp: statuses[`RateLimitPolicy/${ns}/per-ip`],
      squatter: statuses[`RateLimitPolicy/${ns}/squatter`],
    }).toEqual({
      product: warning("spec.openapi: no document; the portal shows no API reference"),
      // The route's rate limit is the product's (ApiProduct/… sorts first); the message names the route
      // and the ApiProduct that holds its rate limit.
      perIp: warning(`route ${ns}/pets/all already has ApiProduct/${ns}/pets applied; this one is not applied there`),
      squatter: invalid('spec.domain: "gantry-portal" is reserved for the usage plans of API products'),
    });
  });

  it("checks its OpenAPI document against the routes its plans cover, delegated children's included", async () => {
    const ns = "portal-doc-children";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/pets`,
        ["pets.example.com"],
        ["public"],
        [
          httpRoute("v2", [prefixMatch("/v2")], { delegate: { routeTables: [{ ref: { name: "pets-v2" } }] } }),
          httpRoute("pets", [prefixMatch("/pets")], forward(["pets"])),
        ],
      ),
      childTable(`${ns}/pets-v2`, [
        httpRoute("list", [prefixMatch("/v2/pets")], forward(["pets"])),
        httpRoute("admin", [prefixMatch("/v2/admin")], forward(["pets"])),
      ]),
      destination(`${ns}/pets`, 8080, ["10.5.3.1"]),
      usagePlan(`${ns}/free`, { perSecond: 1 }),
      apiProduct(`${ns}/pets`, {
        routeTables: [{ name: "pets" }],
        usagePlans: [{ name: "free" }],
        openapi: { inline: openapi({ "/pets": ["get"], "/v2/pets": ["get"], "/v3/pets": ["get"] }) },
      }),
    );
    // The child's routes are the product's (its plans limit them): GET /v2/pets is served, and the
    // child's undocumented route is named by its delegation path.
    await expect
      .poll(async () => (await ft.statuses(ns))[`ApiProduct/${ns}/pets`], { timeout: 20_000, interval: 50 })
      .toEqual(
        warning(
          "spec.openapi: operation GET /v3/pets: no route of the product's route tables serves it",
          `spec.openapi: route ${ns}/pets/v2 > ${ns}/pets-v2/admin: the OpenAPI document documents no operation it serves`,
        ),
      );
  });

  it("with the keys' AuthConfig docs/portal.md pairs it with: ext_authz, then the plans' limits, on its routes", async () => {
    const ns = "portal-keys";
    onTestFinished(() => ft.clear(ns));
    const keys = {
      configs: [
        { name: "key", apiKeyAuth: { headerName: "x-api-key", labelSelector: { "portal-product": `${ns}/pets` } } },
      ],
    };
    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/pets`,
        ["pets.example.com"],
        ["public"],
        [httpRoute("all", [], forward(["pets"]), { api: "pets" })],
      ),
      destination(`${ns}/pets`, 8080, ["10.5.3.1"]),
      usagePlan(`${ns}/free`, { perSecond: 1 }),
      apiProduct(`${ns}/pets`, { routeTables: [{ name: "pets" }], usagePlans: [{ name: "free" }] }),
      authConfig(`${ns}/pets-keys`, keys),
      policy("ExtAuthPolicy", `${ns}/pets-keys`, { api: "pets" }, { authConfig: { name: "pets-keys" } }),
    );
    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [
      listener(`${ns}/public/8080`, 8080, { filters: [extAuthzFilter, rateLimitFilter, routerFilter] }),
    ]);
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [
      routeConfig(`${ns}/public/8080`, [
        virtualHost(
          `${ns}/pets`,
          ["pets.example.com"],
          [
            route(`${ns}/pets/all`, prefix("/"), toCluster(`${ns}/pets:8080`, productActions(`${ns}/pets`)), {
              typedPerFilterConfig: {
                "envoy.filters.http.ext_authz": extAuthzPerRoute(`${ns}/pets-keys`),
                "envoy.filters.http.ratelimit": rateLimitPerRoute("gantry-portal"),
              },
            }),
          ],
        ),
      ]),
    ]);
    const extauth = ft.sotw(serviceNode(`${ns}-extauth`, "extauth"));
    extauth.subscribe(AUTH);
    await extauth.expect(AUTH, [{ id: `${ns}/pets-keys`, ...keys }]);
    const ratelimit = ft.sotw(serviceNode(`${ns}-ratelimit`, "ratelimit"));
    ratelimit.subscribe(RLS);
    await ratelimit.expect(RLS, [portalConfig([[`${ns}/pets`, [planRule(`${ns}/free`, [["SECOND", 1]])]]])]);
  });
});

describe("Portal", () => {
  it("checks what it publishes and its branding; it sends nothing to proxies or services", async () => {
    const ns = "portal-site";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      usagePlan(`${ns}/free`, { perDay: 100 }),
      apiProduct(`${ns}/pets`, { usagePlans: [{ name: "free" }], openapi: { inline: "" } }),
      apiProduct(`${ns}/bare`, { usagePlans: [{ name: "free" }] }),
      apiProduct(`${ns}/routed`, { routeTables: [{ name: "site" }], usagePlans: [{ name: "free" }] }),
      childTable(`${ns}/site`, [httpRoute("all", [], forward(["site"]))]),
      destination(`${ns}/site`, 8080, ["10.5.2.1"]),
      portal(`${ns}/developers`, {
        domain: "developers.example.com",
        branding: { title: "Devs", logoUrl: "/logo.svg", primaryColor: "#0b6e4f", backgroundColor: "#fff" },
        products: [{ product: { name: "pets" }, visibility: "SIGNED_IN" }],
      }),
      portal(`${ns}/broken`, {
        branding: { logoUrl: "logo.svg", primaryColor: "green" },
        products: [
          { product: { name: "nope" }, visibility: "PUBLIC", groups: ["partners"] },
          { product: { name: "pets" }, visibility: "GROUPS" },
          { visibility: "PUBLIC" },
        ],
      }),
    );
    expect(await ft.statuses(ns)).toEqual({
      [`UsagePlan/${ns}/free`]: accepted,
      [`ApiProduct/${ns}/pets`]: invalid("spec.openapi.inline: empty document"),
      [`ApiProduct/${ns}/bare`]: warning(
        "spec.openapi: no document; the portal shows no API reference",
        "spec.routeTables: empty; no route serves the product",
      ),
      // Its route table is attached to no gateway: no route is the product's (yet).
      [`ApiProduct/${ns}/routed`]: warning(
        "spec.openapi: no document; the portal shows no API reference",
        "selects no routes",
      ),
      [`RouteTable/${ns}/site`]: accepted,
      [`Destination/${ns}/site`]: accepted,
      [`Portal/${ns}/developers`]: accepted,
      [`Portal/${ns}/broken`]: {
        state: "INVALID",
        messages: [
          'spec.branding.primaryColor: "green" is not #rgb or #rrggbb',
          'spec.branding.logoUrl: "logo.svg" is neither an http(s) URL nor a path starting with /',
          `spec.products[0].product: ApiProduct ${ns}/nope not found`,
          "spec.products[0].groups: ignored unless visibility is GROUPS",
          "spec.products[1].groups: visibility GROUPS needs at least one group",
          "spec.products[2].product: a name is required",
        ],
      },
    });
    // An invalid product, or one without route tables, offers no plan: only the routed one's go out.
    const ratelimit = ft.sotw(serviceNode(`${ns}-ratelimit`, "ratelimit"));
    ratelimit.subscribe(RLS);
    await ratelimit.expect(RLS, [portalConfig([[`${ns}/routed`, [planRule(`${ns}/free`, [["DAY", 100]])]]])]);
    await ratelimit.expectQuiet();
  });
});
