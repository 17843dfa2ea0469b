// Wildcard subscriptions to types with nothing in them: answered with the empty set, so that the
// client (Envoy, envoyproxy/ratelimit, Gantry's services) can finish initializing. Its own server:
// the role nodes here see every namespace, and the tests need a store where nothing is published yet.
import { describe, it, onTestFinished } from "vitest";
import { AUTH, CDS, envoyNode, featureServer, LDS, RLS, serviceNode } from "./harness.js";
import { destination, forward, gateway, httpRoute, policy, prefixMatch, routeTable } from "./resources.js";

const ft = featureServer();

const limit = { key: "remote_address", rateLimit: { unit: "SECOND", requestsPerUnit: 5 } };

describe("a wildcard subscription to an empty type", () => {
  it("SotW: a rate-limit node gets an empty set, then the configs, then an empty set again", async () => {
    const ns = "wildcard-rls";
    onTestFinished(() => ft.clear(ns));
    const ratelimit = ft.sotw(serviceNode(`${ns}-ratelimit`, "ratelimit"));
    ratelimit.subscribe(RLS);
    await ratelimit.expect(RLS, []);
    await ratelimit.expectQuiet();

    await ft.apply(
      gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
      routeTable(
        `${ns}/site`,
        [`${ns}.example.com`],
        ["public"],
        [httpRoute("all", [prefixMatch("/")], forward(["backend"]), { app: "all" })],
      ),
      destination(`${ns}/backend`, 80, ["10.9.0.1"]),
      policy("RateLimitPolicy", `${ns}/per-ip`, { app: "all" }, { domain: ns, descriptors: [limit] }),
    );
    await ratelimit.expect(RLS, [{ name: ns, domain: ns, descriptors: [limit] }]);
    await ft.clear(ns);
    await ratelimit.expect(RLS, []);
    await ratelimit.expectQuiet();
  });

  it("SotW: an ext-auth node gets an empty set of AuthConfigs", async () => {
    const extauth = ft.sotw(serviceNode("wildcard-extauth", "extauth"));
    extauth.subscribe(AUTH);
    await extauth.expect(AUTH, []);
    await extauth.expectQuiet();
  });

  it("SotW: an Envoy no gateway selects gets empty clusters and listeners", async () => {
    const envoy = ft.sotw(envoyNode("wildcard-envoy", { gateway: "wildcard-none" }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, []);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, []);
    await envoy.expectQuiet();
  });

  it("delta: wildcard by no names or by `*`, each answered with nothing to add or remove", async () => {
    const first = ft.delta(serviceNode("wildcard-delta-1", "ratelimit"));
    first.subscribe(RLS);
    await first.expect(RLS, []);
    await first.expectQuiet();
    const star = ft.delta(serviceNode("wildcard-delta-2", "extauth"));
    star.subscribe(AUTH, ["*"]);
    await star.expect(AUTH, []);
    await star.expectQuiet();
  });
});
