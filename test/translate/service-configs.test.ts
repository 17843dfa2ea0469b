import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AuthConfigSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { RateLimitConfigSchema } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { State, translate } from "../../src/translate/index.js";
import { destination, gateway, resources } from "./fixtures.js";

const routes = `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  hosts: [a.example.com]
  gateways: [{ name: gw }]
  http:
    - name: main
      labels: { tier: gold }
      matchers: [{ prefix: "/" }]
      forwardTo: { destinations: [{ destination: { name: d } }] }
---
`;

const authConfig = (name: string) => `apiVersion: gantry/v1
kind: AuthConfig
metadata: { name: ${name} }
spec:
  configs: [{ name: members, basicAuth: { realm: r, users: { u: "{SHA}6NSi9zGis3/LFpY50UzLk1CVLVk=" } } }]
---
`;

const extAuthPolicy = `apiVersion: gantry/v1
kind: ExtAuthPolicy
metadata: { name: login }
spec:
  applyToRoutes: [{ route: { labels: { tier: gold } } }]
  authConfig: { name: used }
---
`;

const rateLimitPolicy = (name: string, domain: string, key: string) => `apiVersion: gantry/v1
kind: RateLimitPolicy
metadata: { name: ${name} }
spec:
  applyToRoutes: [{ route: { labels: { tier: gold } } }]
  domain: ${domain}
  rateLimits: [{ actions: [{ requestHeaders: { headerName: x-key, descriptorKey: ${key} } }] }]
  descriptors: [{ key: ${key}, rateLimit: { unit: MINUTE, requestsPerUnit: 5 } }]
---
`;

const base = `${gateway()}${destination("d")}${routes}`;

describe("translate: the ext-auth and rate-limit servers' configs", () => {
  it("serves the AuthConfigs policies name, by config id, and no other", () => {
    const t = translate(resources(`${base}${authConfig("used")}${authConfig("unused")}${extAuthPolicy}`));
    expect(t.authConfigs.map((r) => [r.typeUrl, r.name])).toEqual([
      ["type.googleapis.com/gantry.extauth.v1.AuthConfig", "default/used"],
    ]);
    const config = fromBinary(AuthConfigSchema, t.authConfigs[0]?.value ?? new Uint8Array());
    expect(config.id).toBe("default/used");
    expect(config.configs.map((c) => c.name)).toEqual(["members"]);
  });

  it("merges the policies of one domain into one RateLimitConfig, in policy-name order", () => {
    const t = translate(
      resources(
        `${base}${rateLimitPolicy("b", "shop", "second")}${rateLimitPolicy("a", "shop", "first")}${rateLimitPolicy("c", "other", "k")}`,
      ),
    );
    expect(t.rateLimitConfigs.map((r) => r.name)).toEqual(["other", "shop"]);
    const shop = fromBinary(RateLimitConfigSchema, t.rateLimitConfigs[1]?.value ?? new Uint8Array());
    expect(shop.domain).toBe("shop");
    expect(shop.descriptors.map((d) => d.key)).toEqual(["first", "second"]);
    expect(t.refusedDomains).toEqual([]);
  });

  it("leaves out a domain whose merged config a rate-limit server would refuse, and fails its policies", () => {
    const t = translate(
      resources(
        `${base}${rateLimitPolicy("a", "shop", "same")}${rateLimitPolicy("b", "shop", "same")}${rateLimitPolicy("c", "other", "k")}`,
      ),
    );
    expect(t.rateLimitConfigs.map((r) => r.name)).toEqual(["other"]);
    const message =
      'rate-limit domain "shop" cannot be served: descriptors[1]: duplicate descriptor key "same" (first at descriptors[0])';
    for (const policy of ["RateLimitPolicy/default/a", "RateLimitPolicy/default/b"]) {
      expect(t.statuses.get(policy)?.state).toBe(State.FAILED);
      expect(t.statuses.get(policy)?.messages).toContain(message);
    }
    expect(t.statuses.get("RateLimitPolicy/default/c")?.state).not.toBe(State.FAILED);
    expect(t.refusedDomains.map((d) => d.domain)).toEqual(["shop"]);
  });
});
