import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toJson } from "@bufbuild/protobuf";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { envoyRegistry } from "../../src/envoy/index.js";
import { PlanLimitsSchema } from "../../src/gen/gantry/v1/portal_pb.js";
import { RateLimitConfigSchema } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { type DocumentCheck, sourceKey } from "../../src/openapi/index.js";
import { configProblems } from "../../src/ratelimit-config/index.js";
import { loadResources, parseResources } from "../../src/resources/index.js";
import { State, Translator, translate } from "../../src/translate/index.js";
import { planPolicies, productDescriptor } from "../../src/translate/normalize/products.js";
import { expectGolden } from "../support/golden.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const example = join(root, "examples", "portal", "portal.yaml");
const goldenDir = join(root, "test", "portal", "golden");

async function exampleText(): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  return readFile(example, "utf8");
}

function translateText(text: string) {
  const loaded = parseResources(text, "portal.yaml");
  expect(loaded.rejected).toEqual([]);
  return translate(loaded.resources, { rateLimit: { host: "127.0.0.1", port: 8081 } });
}

function status(translation: ReturnType<typeof translate>, key: string) {
  const s = translation.statuses.get(key);
  return s ? { state: State[s.state], messages: s.messages } : undefined;
}

describe("usage plans → rate limits on the product's routes", () => {
  it("sends the product, the key's plan and the key's id from ext-auth's metadata, and serves the plans' rules", async () => {
    const loaded = await loadResources([example]);
    const translation = translate(loaded.resources, { rateLimit: { host: "127.0.0.1", port: 8081 } });
    const routeConfig = translation.groups[0]?.resources.find((r) => r.typeUrl.endsWith("RouteConfiguration"));
    expect(routeConfig).toBeDefined();
    const schema = envoyRegistry.getMessage("envoy.config.route.v3.RouteConfiguration");
    if (!schema || !routeConfig) throw new Error("no RouteConfiguration");
    const json = toJson(schema, fromBinary(schema, routeConfig.value), { registry: envoyRegistry }) as {
      virtualHosts: { routes: { name: string; route?: unknown; typedPerFilterConfig?: unknown }[] }[];
    };
    const configs = translation.rateLimitConfigs.map((r) =>
      toJson(RateLimitConfigSchema, fromBinary(RateLimitConfigSchema, r.value)),
    );
    expectGolden(join(goldenDir, "plans.json"), { routes: json.virtualHosts[0]?.routes, rateLimitConfigs: configs });
    for (const key of [
      "ApiProduct/portal/pets",
      "UsagePlan/portal/free",
      "UsagePlan/portal/gold",
      "Portal/portal/developers",
    ]) {
      expect(status(translation, key)).toEqual({ state: "ACCEPTED", messages: [] });
    }
  });

  it("reports a plan without limits as INVALID, naming the field, and the product no longer offers it", async () => {
    const text = (await exampleText()).replace("limits: { perSecond: 2, perDay: 1000 }", "limits: {}");
    const translation = translateText(text);
    expect(status(translation, "UsagePlan/portal/free")).toEqual({
      state: "INVALID",
      messages: ["spec.limits: at least one of perSecond, perMinute, perDay, perMonth is required"],
    });
    expect(status(translation, "ApiProduct/portal/pets")?.messages).toEqual([
      "spec.usagePlans[0]: UsagePlan portal/free is invalid; not offered",
    ]);
    const config = translation.rateLimitConfigs.find((r) => r.name === "gantry-portal");
    const plans = config ? toJson(RateLimitConfigSchema, fromBinary(RateLimitConfigSchema, config.value)) : undefined;
    expect(JSON.stringify(plans)).not.toContain("portal/free");
  });

  it("warns about missing route tables and plans, naming the field", async () => {
    const text = (await exampleText())
      .replace("routeTables: [{ name: pets }]", "routeTables: [{ name: pets }, { name: nope }]")
      .replace("usagePlans: [{ name: free }, { name: gold }]", "usagePlans: [{ name: free }, { name: silver }]");
    const translation = translateText(text);
    expect(status(translation, "ApiProduct/portal/pets")).toEqual({
      state: "WARNING",
      messages: [
        "spec.routeTables[1]: RouteTable portal/nope not found",
        "spec.usagePlans[1]: UsagePlan portal/silver not found; not offered",
      ],
    });
  });

  it("refuses a schema URL that is not http(s), naming the field", async () => {
    const text = (await exampleText()).replace(
      /openapi:\n {4}inline: \|\n(?: {6}.*\n)+/,
      'openapi: { url: { url: "file:///etc/passwd" } }\n',
    );
    const translation = translateText(text);
    expect(status(translation, "ApiProduct/portal/pets")).toEqual({
      state: "INVALID",
      messages: ["spec.openapi.url.url: scheme file: is not http: or https:"],
    });
  });

  it("checks the portal's branding and visibility, naming the field", async () => {
    const text = (await exampleText())
      .replace('primaryColor: "#0b6e4f"', 'primaryColor: "green"')
      .replace("visibility: PUBLIC", "visibility: GROUPS");
    const translation = translateText(text);
    expect(status(translation, "Portal/portal/developers")).toEqual({
      state: "INVALID",
      messages: [
        'spec.branding.primaryColor: "green" is not #rgb or #rrggbb',
        "spec.products[0].groups: visibility GROUPS needs at least one group",
      ],
    });
  });

  it("keeps the product's plans on a route another RateLimitPolicy also selects, and says so on that policy", async () => {
    const text = `${await exampleText()}---
apiVersion: gantry/v1
kind: RateLimitPolicy
metadata: { name: by-ip, namespace: portal }
spec:
  applyToRoutes: [{ route: { labels: { api: pets } } }]
  rateLimits: [{ actions: [{ remoteAddress: {} }] }]
  descriptors: [{ key: remote_address, rateLimit: { unit: SECOND, requestsPerUnit: 10 } }]
`;
    const translation = translateText(text);
    expect(status(translation, "RateLimitPolicy/portal/by-ip")).toEqual({
      state: "WARNING",
      // The route's rate limit is the product's: the message names it, not another RateLimitPolicy.
      messages: ["route portal/pets/pets already has ApiProduct/portal/pets applied; this one is not applied there"],
    });
    expect(status(translation, "ApiProduct/portal/pets")?.state).toBe("ACCEPTED");
  });
});

describe("one bad plan or policy never fails the portal's rate-limit domain", () => {
  it("warns about a plan listed twice and serves it once (twice made the whole domain unservable)", async () => {
    const text = (await exampleText()).replace(
      "usagePlans: [{ name: free }, { name: gold }]",
      "usagePlans: [{ name: free }, { name: gold }, { name: free }]",
    );
    const translation = translateText(text);
    expect(status(translation, "ApiProduct/portal/pets")).toEqual({
      state: "WARNING",
      messages: ["spec.usagePlans[2]: UsagePlan portal/free is already listed at spec.usagePlans[0]"],
    });
    expect(translation.refusedDomains).toEqual([]);
    const config = translation.rateLimitConfigs.find((r) => r.name === "gantry-portal");
    const plans = config ? fromBinary(RateLimitConfigSchema, config.value) : undefined;
    expect(plans?.descriptors[0]?.descriptors.map((d) => d.value)).toEqual(["portal/free", "portal/gold"]);
  });

  it("refuses a RateLimitPolicy in the plans' domain, naming the field, and keeps serving the plans", async () => {
    const text = `${await exampleText()}---
apiVersion: gantry/v1
kind: RateLimitPolicy
metadata: { name: clash, namespace: portal }
spec:
  domain: gantry-portal
  applyToRoutes: [{ route: { labels: { nothing: here } } }]
  rateLimits: [{ actions: [{ remoteAddress: {} }] }]
  descriptors: [{ key: portal_product, value: portal/pets, rateLimit: { unit: SECOND, requestsPerUnit: 1 } }]
`;
    const translation = translateText(text);
    expect(status(translation, "RateLimitPolicy/portal/clash")).toEqual({
      state: "INVALID",
      messages: ['spec.domain: "gantry-portal" is reserved for the usage plans of API products'],
    });
    expect(translation.refusedDomains).toEqual([]);
    expect(status(translation, "ApiProduct/portal/pets")?.state).toBe("ACCEPTED");
    expect(translation.rateLimitConfigs.map((r) => r.name)).toContain("gantry-portal");
  });

  const limit = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 32 - 1 }));
  test.prop([fc.array(fc.tuple(limit, limit, limit, limit), { minLength: 1, maxLength: 4 })])(
    "any plans' limits make rules a rate-limit server accepts",
    (plans) => {
      const offered = plans.flatMap(([perSecond, perMinute, perDay, perMonth], i) => {
        const limits = planPolicies(create(PlanLimitsSchema, { perSecond, perMinute, perDay, perMonth }));
        return limits.length === 0 ? [] : [{ name: `ns/plan-${i}`, limits }];
      });
      const config = create(RateLimitConfigSchema, {
        domain: "gantry-portal",
        descriptors: [productDescriptor("ns/product", offered)],
      });
      expect(configProblems(config)).toEqual([]);
    },
  );
});

describe("OpenAPI checks in the product's status", () => {
  async function withCheck(check: DocumentCheck, edit: (text: string) => string = (t) => t) {
    const loaded = parseResources(edit(await exampleText()), "portal.yaml");
    const product = loaded.resources.find((r) => r.kind === "ApiProduct");
    if (product?.kind !== "ApiProduct") throw new Error("no ApiProduct");
    const key = sourceKey(product.spec.openapi) as string;
    const translation = new Translator({ rateLimit: { host: "127.0.0.1", port: 8081 } }).translate(
      loaded.resources,
      [],
      { openApi: new Map([[key, check]]) },
    );
    return { translation, key };
  }

  it("warns with the document's problem, naming the source; its plans are still enforced", async () => {
    const problem = "spec.openapi.url http://pets.internal/openapi.json: cannot read: answered HTTP 500";
    const { translation } = await withCheck({ problems: [problem], operations: [] });
    expect(status(translation, "ApiProduct/portal/pets")).toEqual({ state: "WARNING", messages: [problem] });
    expect(translation.rateLimitConfigs.map((r) => r.name)).toContain("gantry-portal");
  });

  it("warns about operations no route serves and routes no operation documents", async () => {
    const { translation } = await withCheck({
      problems: [],
      operations: [
        { method: "GET", path: "/v1/pets" },
        { method: "POST", path: "/v2/orders" },
      ],
    });
    expect(status(translation, "ApiProduct/portal/pets")).toEqual({
      state: "WARNING",
      messages: ["spec.openapi: operation POST /v2/orders: no route of the product's route tables serves it"],
    });
  });

  it("says nothing for a check of another version of the document (not checked yet)", async () => {
    const { key } = await withCheck({ problems: [], operations: [] });
    const edited = (await exampleText()).replace("summary: List pets", "summary: Every pet");
    const loaded = parseResources(edited, "portal.yaml");
    const translation = new Translator().translate(loaded.resources, [], {
      openApi: new Map([[key, { problems: ["spec.openapi.inline: stale"], operations: [] }]]),
    });
    expect(status(translation, "ApiProduct/portal/pets")).toEqual({ state: "ACCEPTED", messages: [] });
  });
});
