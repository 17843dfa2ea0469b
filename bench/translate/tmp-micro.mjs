import { fromJson, toBinary } from "@bufbuild/protobuf";
import { RouteSchema } from "../../dist/gen/envoy/config/route/v3/route_components_pb.js";
import { specSchemas } from "../../dist/resources/index.js";
import { buildRoute } from "../../dist/translate/envoy/route.js";
import { normalize, validateMessage } from "../../dist/translate/index.js";

function resource(kind, name, spec, labels = {}) {
  return { kind, metadata: { name, namespace: "bench", labels }, spec: fromJson(specSchemas[kind], spec) };
}

/** 100 gateways, 5 route tables each, the routes spread evenly; policies attached by label. */
function world(routes, { changedRoute } = {}) {
  const out = [];
  for (let d = 0; d < destinations; d++) {
    out.push(
      resource("Destination", `svc-${d}`, {
        ports: [{ number: 8080 }],
        endpoints: [0, 1, 2].map((e) => ({ address: `10.${d >> 8}.${d & 255}.${e + 1}`, locality: { zone: `z${e}` } })),
      }),
    );
  }
  const perTable = routes / (gateways * routeTablesPerGateway);
  let n = 0;
  for (let g = 0; g < gateways; g++) {
    out.push(
      resource("Gateway", `gw-${g}`, { proxies: { labels: { gateway: `gw-${g}` } }, listeners: [{ port: 8080 }] }),
    );
    for (let t = 0; t < routeTablesPerGateway; t++) {
      const http = [];
      for (let r = 0; r < perTable; r++, n++) {
        const prefix = n === changedRoute ? `/changed/${r}` : `/api/${t}/r${r}`;
        http.push({
          name: `r${r}`,
          labels: { tier: r % 3 === 0 ? "gold" : "silver", retry: r % 2 === 0 ? "yes" : "no" },
          matchers: [{ prefix, headers: r % 5 === 0 ? [{ name: "x-canary", value: "1" }] : [] }],
          forwardTo: {
            destinations: [
              { destination: { name: `svc-${n % destinations}` }, weight: 90 },
              { destination: { name: `svc-${(n + 1) % destinations}` }, weight: 10 },
            ],
            timeout: "5s",
          },
        });
      }
      out.push(
        resource("RouteTable", `rt-${g}-${t}`, {
          hosts: [`h${t}.gw${g}.example.com`],
          gateways: [{ name: `gw-${g}` }],
          http,
        }),
      );
    }
  }
  out.push(
    resource("RetryTimeoutPolicy", "retries", {
      applyToRoutes: [{ route: { labels: { retry: "yes" } } }],
      retry: { retryOn: ["5xx"], attempts: 2 },
    }),
    resource("HeaderPolicy", "headers", {
      applyToRoutes: [{ route: { labels: {} } }],
      responseHeadersToAdd: [{ name: "x-served-by", value: "gantry" }],
    }),
    resource("ExtAuthPolicy", "gold-auth", {
      applyToRoutes: [{ route: { labels: { tier: "gold" } } }],
      authConfig: { name: "gold" },
    }),
  );
  return out;
}

const gateways = 100,
  routeTablesPerGateway = 5,
  destinations = 500;
const base = world(1000);
for (let i = 0; i < 5; i++) {
  let t = performance.now();
  const { model } = normalize(base);
  const tn = performance.now() - t;
  const routes = model.gateways.flatMap((g) => g.listeners.flatMap((l) => l.virtualHosts.flatMap((v) => v.routes)));
  t = performance.now();
  const built = routes.map((r) => buildRoute(r, "envoy", true));
  const tb = performance.now() - t;
  t = performance.now();
  for (const b of built) validateMessage(RouteSchema, b);
  const tv = performance.now() - t;
  t = performance.now();
  for (const b of built) toBinary(RouteSchema, b);
  const te = performance.now() - t;
  t = performance.now();
  for (const r of routes) JSON.stringify(r);
  const tk = performance.now() - t;
  console.log({
    routes: routes.length,
    normalize: tn.toFixed(1),
    build: tb.toFixed(1),
    validate: tv.toFixed(1),
    encode: te.toFixed(1),
    key: tk.toFixed(1),
  });
}
