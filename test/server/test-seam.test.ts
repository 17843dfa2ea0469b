// The management server's test seam, `unvalidatedResourcesForTests`: it sends a node resources that
// Gantry's validator never saw, for tests that need a client to NACK. Production must not reach it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeResource, type XdsResource } from "../../src/envoy/index.js";
import { type Cluster, ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });
const seam = "unvalidatedResourcesForTests";

describe("the server's test seam for unvalidated resources", () => {
  it("is named nowhere in src/ but where the server declares (options.ts) and calls it, so no flag or variable reaches it", () => {
    const src = fileURLToPath(new URL("../../src/", import.meta.url));
    const naming = readdirSync(src, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts") && readFileSync(join(src, file), "utf8").includes(seam))
      .map((file) => file.split("\\").join("/"));
    expect(naming.sort()).toEqual(["server/options.ts", "server/server.ts"]);
  });

  describe("in a server started with it", () => {
    let server: ManagementServer;
    let send: (nodeId: string, resources: readonly XdsResource[] | undefined) => void = () => {};
    const clients: XdsClient[] = [];

    beforeAll(async () => {
      server = await startManagementServer({
        store: new MemoryStore(),
        host: "127.0.0.1",
        xdsPort: 0,
        apiPort: 0,
        apiToken: undefined,
        insecureApi: true,
        logger,
        registry: createRegistry("server", { processMetrics: false }),
        unvalidatedResourcesForTests: (given) => {
          send = given;
        },
      });
    });

    afterAll(async () => {
      for (const client of clients) await client.stop();
      await server?.stop();
    });

    /** A proxy's clusters, as it last accepted them. */
    function clustersOf(id: string): { current: ReadonlyMap<string, Cluster> } {
      const seen = { current: new Map() as ReadonlyMap<string, Cluster> };
      const client = new XdsClient({ server: `127.0.0.1:${server.xdsPort}`, node: { id, cluster: "test" }, logger });
      clients.push(client);
      client.subscribe(ClusterSchema, {
        onUpdate: (resources) => {
          seen.current = resources;
        },
      });
      client.start();
      return seen;
    }

    it("sends one node a resource the validator refuses, and takes it back", async () => {
      const target = clustersOf("seam-target");
      const bystander = clustersOf("seam-bystander");
      await waitFor(() => server.proxies().filter((p) => p.nodeId.startsWith("seam-")).length === 2, {
        timeoutMs: 30_000,
        what: "both proxies connected",
      });
      // A negative connect timeout: PGV requires it above 0, so translation would never publish it.
      send("seam-target", [encodeResource(ClusterSchema, { name: "raw", connectTimeout: { seconds: -1n } })]);
      await waitFor(() => target.current.has("raw"), { timeoutMs: 30_000, what: "the raw cluster at the target" });
      expect(target.current.get("raw")?.connectTimeout?.seconds).toBe(-1n);
      expect(bystander.current.has("raw")).toBe(false);
      send("seam-target", undefined);
      await waitFor(() => !target.current.has("raw"), { timeoutMs: 30_000, what: "the raw cluster taken back" });
    });
  });
});
