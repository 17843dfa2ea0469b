import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { NodeSchema } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { Publisher } from "../../src/server/publish.js";
import { SnapshotCache } from "../../src/xds/index.js";

const logger = createLogger({ service: "test", level: "silent" });

describe("Publisher", () => {
  it("gives a node no snapshot before the first publication, so its streams wait instead of seeing nothing", () => {
    const cache = new SnapshotCache();
    const publisher = new Publisher(cache, logger);
    const proxy = create(NodeSchema, { id: "gw-1", metadata: { labels: { app: "web" } } });
    const rateLimiter = create(NodeSchema, { id: "rl-1", metadata: { role: "ratelimit" } });
    publisher.nodeConnected(proxy);
    publisher.nodeConnected(rateLimiter);
    expect(cache.snapshot("gw-1")).toBeUndefined();
    expect(cache.snapshot("rl-1")).toBeUndefined();
    publisher.update({ groups: [], authConfigs: [], rateLimitConfigs: [] });
    // Published, even if empty: from now on an empty state is the truth, not a server that has not translated yet.
    expect(cache.snapshot("gw-1")).toBeDefined();
    expect(cache.snapshot("rl-1")).toBeDefined();
    const late = create(NodeSchema, { id: "gw-2" });
    publisher.nodeConnected(late);
    expect(cache.snapshot("gw-2")).toBeDefined();
  });
});
