import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { envoyRegistry } from "../../src/envoy/index.js";
import { RateLimitConfigSchema } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { loadResources, parseResources } from "../../src/resources/index.js";
import { State, translate } from "../../src/translate/index.js";
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
      messages: ["route portal/pets/pets already has a RateLimitPolicy applied; this one is not applied there"],
    });
    expect(status(translation, "ApiProduct/portal/pets")?.state).toBe("ACCEPTED");
  });
});
