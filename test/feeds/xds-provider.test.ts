import { afterEach, describe, expect, it } from "vitest";
import { encodeResource } from "../../src/envoy/index.js";
import { rateLimitConfigsByXds } from "../../src/feeds/index.js";
import { RateLimitConfigSchema } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { SnapshotCache, startXdsServer, type XdsServer } from "../../src/xds/index.js";
import { record } from "../config/recorder.js";
import { waitFor } from "../support/wait.js";
import { logger } from "../xds/harness.js";

const config = (name: string, domain: string) => encodeResource(RateLimitConfigSchema, { name, domain });

describe("xDS provider", () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function setup(
    refuse: (domains: string[]) => boolean = () => false,
    first = [config("api", "api"), config("web", "web")],
  ) {
    const cache = new SnapshotCache();
    cache.setSnapshot("ratelimit-test", first);
    const server: XdsServer = await startXdsServer({ cache, host: "127.0.0.1", port: 0, logger });
    stops.push(() => server.stop(200));
    const provider = rateLimitConfigsByXds({ server: `127.0.0.1:${server.port}`, nodeId: "ratelimit-test", logger });
    stops.push(() => provider.stop());
    const seen = record(provider, (configs) => refuse(configs.map((c) => c.domain)));
    const status = () => server.proxyStatus().find((p) => p.nodeId === "ratelimit-test")?.types[0];
    await provider.start();
    return { cache, provider, seen, status };
  }

  it("offers the server's set with the server's version, and ACKs it", async () => {
    const { cache, provider, seen, status } = await setup();
    await waitFor(() => seen.snapshots.length === 1, { what: "the first snapshot" });
    expect(seen.snapshots[0]?.config.map((c) => c.domain).sort()).toEqual(["api", "web"]);
    const version = seen.snapshots[0]?.version;
    expect(provider.source).toMatch(/^xds 127\.0\.0\.1:\d+$/);
    await waitFor(() => status()?.acked?.version === version, { what: "the ACK" });

    cache.setSnapshot("ratelimit-test", [config("api", "api2")]);
    await waitFor(() => seen.snapshots.length === 2, { what: "the update" });
    expect(seen.snapshots[1]?.config.map((c) => c.domain)).toEqual(["api2"]);
    expect(provider.current()).toBe(seen.snapshots[1]);
  });

  it("NACKs a set that fails validation, telling the subscribers, and keeps the current one", async () => {
    const { cache, provider, seen, status } = await setup();
    await waitFor(() => seen.snapshots.length === 1, { what: "the first snapshot" });
    cache.setSnapshot("ratelimit-test", [config("a", "shop"), config("b", "shop")]);
    await waitFor(() => status()?.lastNack, { what: "the NACK" });
    expect(status()?.lastNack?.error).toContain('b: domain: duplicate domain "shop" (also in a)');
    expect(seen.errors.map((e) => e.message)).toEqual(['b: domain: duplicate domain "shop" (also in a)']);
    expect(provider.current()).toBe(seen.snapshots[0]);
  });

  it("NACKs a set a subscriber refuses, with its reason", async () => {
    const { cache, provider, seen, status } = await setup((domains) => domains.includes("nope"));
    await waitFor(() => seen.snapshots.length === 1, { what: "the first snapshot" });
    cache.setSnapshot("ratelimit-test", [config("nope", "nope")]);
    await waitFor(() => status()?.lastNack, { what: "the NACK" });
    expect(status()?.lastNack?.error).toMatch(/refused [0-9a-f]+/);
    expect(seen.errors).toEqual([]);
    expect(provider.current()).toBe(seen.snapshots[0]);
  });

  it("offers an empty set when the server has no config yet, then the configs as they come", async () => {
    const { cache, seen, status } = await setup(undefined, []);
    // The wildcard subscription is answered with the empty set: the server can start with no rules.
    await waitFor(() => seen.snapshots.length === 1, { what: "the empty first snapshot" });
    expect(seen.snapshots[0]?.config).toEqual([]);
    await waitFor(() => status()?.acked?.version === seen.snapshots[0]?.version, { what: "the ACK" });
    cache.setSnapshot("ratelimit-test", [config("api", "api")]);
    await waitFor(() => seen.snapshots.length === 2, { what: "the first config" });
    expect(seen.snapshots[1]?.config.map((c) => c.domain)).toEqual(["api"]);
  });
});
