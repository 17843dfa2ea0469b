// The configs of Gantry's own services: an ext-auth node (metadata role=extauth) receives the
// AuthConfigs routes name, a rate-limit node (role=ratelimit) one RateLimitConfig per domain.
// Every node of a role sees every namespace, so each test here clears its namespace when done.
import { describe, expect, it, onTestFinished } from "vitest";
import { authConfigsByXds, rateLimitConfigsByXds } from "../../src/feeds/index.js";
import { waitFor } from "../support/wait.js";
import { AUTH, accepted, featureServer, LDS, RLS, serviceNode } from "./harness.js";
import { authConfig, destination, forward, gateway, httpRoute, policy, prefixMatch, routeTable } from "./resources.js";

const ft = featureServer();

/** A gateway and one route per label value of `app`, so policies can select each route alone. */
function routes(ns: string, apps: string[]) {
  return [
    gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
    routeTable(
      `${ns}/site`,
      [`${ns}.example.com`],
      ["public"],
      apps.map((app) => httpRoute(app, [prefixMatch(`/${app}`)], forward(["backend"]), { app })),
    ),
    destination(`${ns}/backend`, 80, ["10.9.0.1"]),
  ];
}

const users = (realm: string) => ({
  configs: [{ name: "members", basicAuth: { realm, users: { member: "{SHA}x" } } }],
});

/** The AuthConfig an ext-auth server receives: the resource's spec, its id `namespace/name`. */
const authConfigOut = (id: string, realm: string) => ({ id, ...users(realm) });

const limit = (key: string, requestsPerUnit: number, unit = "SECOND") => ({
  key,
  rateLimit: { unit, requestsPerUnit },
});

describe("AuthConfigs for ext-auth servers", () => {
  it("SotW: the AuthConfigs some route names, by config id; every answer is the whole set", async () => {
    const ns = "auth-sotw";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      ...routes(ns, ["a", "b"]),
      authConfig(`${ns}/first`, users("one")),
      authConfig(`${ns}/unused`, users("never")),
      policy("ExtAuthPolicy", `${ns}/a`, { app: "a" }, { authConfig: { name: "first" } }),
    );
    const extauth = ft.sotw(serviceNode(`${ns}-extauth`, "extauth"));
    extauth.subscribe(AUTH);
    await extauth.expect(AUTH, [authConfigOut(`${ns}/first`, "one")]);

    await ft.apply(
      authConfig(`${ns}/second`, users("two")),
      policy("ExtAuthPolicy", `${ns}/b`, { app: "b" }, { authConfig: { name: "second" } }),
    );
    // A wildcard subscription gets the whole set each time: its client takes an answer as all there is.
    await extauth.expect(AUTH, [authConfigOut(`${ns}/first`, "one"), authConfigOut(`${ns}/second`, "two")]);
    await ft.apply(authConfig(`${ns}/first`, users("uno")));
    await extauth.expect(AUTH, [authConfigOut(`${ns}/first`, "uno"), authConfigOut(`${ns}/second`, "two")]);
    // No route names it any more: the next whole set leaves it out.
    await ft.delete(`ExtAuthPolicy/${ns}/b`);
    await extauth.expect(AUTH, [authConfigOut(`${ns}/first`, "uno")]);
    // Proxies' resources never reach a service node.
    await extauth.expectQuiet();
    expect([...extauth.held(LDS).keys()]).toEqual([]);

    expect((await ft.statuses(ns))[`AuthConfig/${ns}/unused`]).toEqual(accepted);
  });

  it("delta: added, updated and removed AuthConfigs, each with its own version", async () => {
    const ns = "auth-delta";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      ...routes(ns, ["a", "b"]),
      authConfig(`${ns}/first`, users("one")),
      authConfig(`${ns}/second`, users("two")),
      policy("ExtAuthPolicy", `${ns}/a`, { app: "a" }, { authConfig: { name: "first" } }),
      policy("ExtAuthPolicy", `${ns}/b`, { app: "b" }, { authConfig: { name: "second" } }),
    );
    const extauth = ft.delta(serviceNode(`${ns}-extauth`, "extauth"));
    extauth.subscribe(AUTH);
    await extauth.expect(AUTH, [authConfigOut(`${ns}/first`, "one"), authConfigOut(`${ns}/second`, "two")]);
    const before = extauth.versions(AUTH);

    await ft.apply(authConfig(`${ns}/second`, users("deux")));
    await extauth.expect(AUTH, [authConfigOut(`${ns}/second`, "deux")]);
    expect(extauth.versions(AUTH)[`${ns}/first`]).toBe(before[`${ns}/first`]);

    // `describe` names the config id and the ext-auth node serving it, once it has ACKed.
    await expect
      .poll(
        async () => {
          const d = await ft.api.describe({ ref: { kind: "AuthConfig", namespace: ns, name: "second" } });
          return {
            authConfigId: d.authConfigId,
            servedBy: d.servedBy.map(({ nodeId, role, stream, acked }) => ({ nodeId, role, stream, acked })),
          };
        },
        { timeout: 5_000, interval: 20 },
      )
      .toEqual({
        authConfigId: `${ns}/second`,
        servedBy: [{ nodeId: `${ns}-extauth`, role: "extauth", stream: "ads-delta", acked: true }],
      });

    // No route names it any more: the ext-auth servers drop it.
    await ft.delete(`ExtAuthPolicy/${ns}/b`);
    await extauth.expect(AUTH, [], [`${ns}/second`]);
    await ft.delete(`ExtAuthPolicy/${ns}/a`);
    await extauth.expect(AUTH, [], [`${ns}/first`]);
    await extauth.expectQuiet();
  });
});

describe("RateLimitConfigs for rate-limit servers", () => {
  it("SotW: one config per domain, merging its policies' descriptors in policy order", async () => {
    const ns = "rl-sotw";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      ...routes(ns, ["a", "b", "c"]),
      policy(
        "RateLimitPolicy",
        `${ns}/b-per-key`,
        { app: "b" },
        {
          domain: `${ns}-shop`,
          rateLimits: [{ actions: [{ requestHeaders: { headerName: "x-api-key", descriptorKey: "api_key" } }] }],
          descriptors: [limit("api_key", 10)],
        },
      ),
      policy(
        "RateLimitPolicy",
        `${ns}/a-per-ip`,
        { app: "a" },
        {
          domain: `${ns}-shop`,
          rateLimits: [{ actions: [{ remoteAddress: {} }] }],
          descriptors: [limit("remote_address", 60, "MINUTE")],
        },
      ),
      policy(
        "RateLimitPolicy",
        `${ns}/c-default-domain`,
        { app: "c" },
        {
          rateLimits: [{ actions: [{ genericKey: { descriptorValue: "c" } }] }],
          descriptors: [{ key: "generic_key", value: "c", rateLimit: { unit: "HOUR", requestsPerUnit: 1000 } }],
        },
      ),
    );
    const ratelimit = ft.sotw(serviceNode(`${ns}-ratelimit`, "ratelimit"));
    ratelimit.subscribe(RLS);
    await ratelimit.expect(RLS, [
      {
        name: "gantry",
        domain: "gantry",
        descriptors: [{ key: "generic_key", value: "c", rateLimit: { unit: "HOUR", requestsPerUnit: 1000 } }],
      },
      {
        name: `${ns}-shop`,
        domain: `${ns}-shop`,
        descriptors: [limit("remote_address", 60, "MINUTE"), limit("api_key", 10)],
      },
    ]);

    // A policy that makes its domain invalid: the domain is not published again, its policies FAIL.
    await ft.apply(
      policy(
        "RateLimitPolicy",
        `${ns}/b-per-key`,
        { app: "b" },
        { domain: `${ns}-shop`, descriptors: [limit("api_key", 10), limit("remote_address", 5)] },
      ),
    );
    await ratelimit.expectQuiet();
    const failure = `rate-limit domain "${ns}-shop" cannot be served: descriptors[2]: duplicate descriptor key "remote_address" (first at descriptors[0])`;
    const statuses = await ft.statuses(ns);
    expect({
      a: statuses[`RateLimitPolicy/${ns}/a-per-ip`],
      b: statuses[`RateLimitPolicy/${ns}/b-per-key`],
      c: statuses[`RateLimitPolicy/${ns}/c-default-domain`],
    }).toEqual({
      a: { state: "FAILED", messages: [failure] },
      b: { state: "FAILED", messages: ["spec.rateLimits: empty; no descriptors are sent", failure] },
      c: accepted,
    });

    // Fixed: published again, in a whole set.
    await ft.apply(
      policy(
        "RateLimitPolicy",
        `${ns}/b-per-key`,
        { app: "b" },
        { domain: `${ns}-shop`, descriptors: [limit("api_key", 20)] },
      ),
    );
    await ratelimit.expect(RLS, [
      {
        name: "gantry",
        domain: "gantry",
        descriptors: [{ key: "generic_key", value: "c", rateLimit: { unit: "HOUR", requestsPerUnit: 1000 } }],
      },
      {
        name: `${ns}-shop`,
        domain: `${ns}-shop`,
        descriptors: [limit("remote_address", 60, "MINUTE"), limit("api_key", 20)],
      },
    ]);
    await ratelimit.expectQuiet();
  });

  it("delta: a domain whose last policy goes is removed", async () => {
    const ns = "rl-delta";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      ...routes(ns, ["a"]),
      policy("RateLimitPolicy", `${ns}/a`, { app: "a" }, { domain: ns, descriptors: [limit("k", 1)] }),
    );
    const ratelimit = ft.delta(serviceNode(`${ns}-ratelimit`, "ratelimit"));
    ratelimit.subscribe(RLS);
    await ratelimit.expect(RLS, [{ name: ns, domain: ns, descriptors: [limit("k", 1)] }]);
    await ft.apply(policy("RateLimitPolicy", `${ns}/a`, { app: "a" }, { domain: ns, descriptors: [limit("k", 2)] }));
    await ratelimit.expect(RLS, [{ name: ns, domain: ns, descriptors: [limit("k", 2)] }]);
    await ft.delete(`RateLimitPolicy/${ns}/a`);
    await ratelimit.expect(RLS, [], [ns]);
    await ratelimit.expectQuiet();
  });
});

describe("the services' own xDS feeds", () => {
  // These failed while the server answered wildcard SotW subscriptions with only what changed: the
  // services' feed (like envoyproxy/ratelimit's) takes every SotW answer as the whole set, so one
  // changed AuthConfig or domain made the service drop all the others.
  it("an ext-auth server following the management server keeps the AuthConfigs that did not change", async () => {
    const ns = "feed-auth";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      ...routes(ns, ["a", "b"]),
      authConfig(`${ns}/first`, users("one")),
      authConfig(`${ns}/second`, users("two")),
      policy("ExtAuthPolicy", `${ns}/a`, { app: "a" }, { authConfig: { name: "first" } }),
      policy("ExtAuthPolicy", `${ns}/b`, { app: "b" }, { authConfig: { name: "second" } }),
    );
    const updates: string[][] = [];
    const feed = authConfigsByXds({ server: ft.xdsAddress, nodeId: `${ns}-extauth` });
    feed.subscribe({
      update: async ({ config }) => {
        updates.push(
          config.configs
            .map((c) => {
              const evaluator = c.configs[0]?.evaluator;
              return `${c.id} ${evaluator?.case === "basicAuth" ? evaluator.value.realm : "?"}`;
            })
            .sort(),
        );
      },
      error: () => {},
    });
    await feed.start();
    onTestFinished(() => feed.stop());
    await waitFor(() => updates.length === 1, { what: "the first AuthConfigs" });
    expect(updates[0]).toEqual([`${ns}/first one`, `${ns}/second two`]);

    await ft.apply(authConfig(`${ns}/second`, users("deux")));
    await waitFor(() => updates.length === 2, { what: "the changed AuthConfig" });
    expect(updates[1]).toEqual([`${ns}/first one`, `${ns}/second deux`]);
  });

  it("a rate-limit server following the management server keeps the domains that did not change", async () => {
    const ns = "feed-rl";
    onTestFinished(() => ft.clear(ns));
    await ft.apply(
      ...routes(ns, ["a", "b"]),
      policy("RateLimitPolicy", `${ns}/a`, { app: "a" }, { domain: `${ns}-a`, descriptors: [limit("k", 1)] }),
      policy("RateLimitPolicy", `${ns}/b`, { app: "b" }, { domain: `${ns}-b`, descriptors: [limit("k", 1)] }),
    );
    const updates: string[][] = [];
    const feed = rateLimitConfigsByXds({ server: ft.xdsAddress, nodeId: `${ns}-ratelimit` });
    feed.subscribe({
      update: async ({ config }) => void updates.push(config.map((c) => c.domain).sort()),
      error: () => {},
    });
    await feed.start();
    onTestFinished(() => feed.stop());
    await waitFor(() => updates.length === 1, { what: "the first RateLimitConfigs" });
    expect(updates[0]).toEqual([`${ns}-a`, `${ns}-b`]);

    await ft.apply(
      policy("RateLimitPolicy", `${ns}/b`, { app: "b" }, { domain: `${ns}-b`, descriptors: [limit("k", 2)] }),
    );
    await waitFor(() => updates.length === 2, { what: "the changed domain" });
    expect(updates[1]).toEqual([`${ns}-a`, `${ns}-b`]);
  });
});
