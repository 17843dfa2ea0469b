import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, it } from "vitest";
import { RateLimitDescriptorSchema } from "../../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { createLogger } from "../../../src/lib/logger.js";
import { createRegistry } from "../../../src/lib/metrics.js";
import { parseRateLimitYaml } from "../../../src/ratelimit/index.js";
import { type ManagementServer, startManagementServer } from "../../../src/server/index.js";
import { MemoryStore } from "../../../src/store/index.js";
import { applyYaml } from "../../e2e/api.js";
import { haveRedis, type RedisServer, startRedis } from "../../support/redis.js";
import { needTool } from "../../support/tools.js";
import { xdsCases } from "./cases.js";
import { compareCase, domainOf, requestOf } from "./compare.js";
import { type RlsPeer, startAnchor, startGantry } from "./peers.js";

const anchorCommand = needTool(
  "service_cmd",
  "build envoyproxy/ratelimit with `node scripts/test-prereqs.mjs` (npm test does this)",
);
const token = "compat-api-token-0123456789abcdef";

/** One RateLimitPolicy per case, its descriptors the case's file read into the proto, as JSON (which is YAML). */
function policies(): string {
  return xdsCases
    .filter(({ c }) => c.config !== undefined)
    .map(({ c, index }) => {
      const domain = domainOf(index);
      const config = parseRateLimitYaml((c.config as string).replaceAll("DOMAIN", domain), `${domain}.yaml`);
      return JSON.stringify({
        apiVersion: "gantry/v1",
        kind: "RateLimitPolicy",
        metadata: { name: domain, namespace: "compat" },
        spec: {
          domain,
          rateLimits: [{ actions: [{ genericKey: { descriptorValue: "compat" } }] }],
          descriptors: config.descriptors.map((d) => toJson(RateLimitDescriptorSchema, d)),
        },
      });
    })
    .join("\n---\n");
}

describe.skipIf(!anchorCommand || !haveRedis())("config by xDS from gantry server: both answer alike", () => {
  let redis: RedisServer;
  let server: ManagementServer;
  let root: string;
  let anchor: RlsPeer;
  let gantry: RlsPeer;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "gantry-compat-rl-xds-"));
    redis = await startRedis();
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: token,
      logger: createLogger({ service: "compat", level: "silent" }),
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
    await applyYaml(server.apiPort, token, policies());
    // Up once limits from xDS are loaded: a descriptor with no limit gets OK with no current limit, so the probe asks
    // for a limited one, in the first case's domain and in the week-unit case's (the anchor NACKed WEEK as 100 before).
    // Its value differs from the cases' own, so it uses none of their counters.
    const probed = xdsCases.filter(({ c }) => c.name.startsWith("unit second") || c.name.startsWith("unit week"));
    if (probed.length !== 2) throw new Error("the xDS compat probe needs the second- and week-unit cases");
    const loaded = async (peer: RlsPeer) => {
      for (const { index } of probed) {
        const answer = await peer.call(requestOf({ descriptors: [[["k", "readiness-probe"]]] }, domainOf(index)));
        if (!("statuses" in answer) || answer.statuses[0]?.currentLimit === undefined) return false;
      }
      return true;
    };
    const xdsServer = `127.0.0.1:${server.xdsPort}`;
    anchor = await startAnchor(anchorCommand as string, {
      root,
      xdsServer,
      redisPort: redis.port,
      keyPrefix: "xa:",
      ready: loaded,
    });
    gantry = await startGantry({ root, xdsServer, redisPort: redis.port, keyPrefix: "xg:", ready: loaded });
  }, 60_000);

  afterAll(async () => {
    await anchor?.stop();
    await gantry?.stop();
    await server?.stop();
    await redis?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it.each(xdsCases.map(({ c, index }) => [c.name, c, index] as const))("%s", async (_name, c, index) => {
    await compareCase(anchor, gantry, c, domainOf(index));
  });
});
