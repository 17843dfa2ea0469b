import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveRedis, type RedisServer, startRedis } from "../../support/redis.js";
import { needTool } from "../../support/tools.js";
import type { CompatCase } from "./cases.js";
import { compareCase, requestOf } from "./compare.js";
import { type RlsPeer, startAnchor, startGantry, writeConfigs } from "./peers.js";

/**
 * The settings table of docs/migrating-from-envoy-ratelimit.md, checked pair by pair: envoyproxy/ratelimit
 * started with its environment variable and `gantry ratelimit` with the flag the table gives for it answer
 * the same cases alike. (Config folders, Redis URL, key prefix and response headers are what every case
 * of `ratelimit.test.ts` runs with; xDS is `xds.test.ts`.)
 */
const anchorCommand = needTool(
  "service_cmd",
  "build envoyproxy/ratelimit with `node scripts/test-prereqs.mjs` (npm test does this)",
);

const limit = (unit: string, n: number, extra = "") => `rate_limit: { unit: ${unit}, requests_per_unit: ${n}${extra} }`;

/** Cases whose answers the setting changes: something over its limit, beside something within. */
const cases: CompatCase[] = [
  {
    name: "one descriptor over its limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    ${limit("minute", 1)}\n`,
    steps: [{ descriptors: [[["k", "v"]]], times: 4 }],
  },
  {
    name: "two descriptors, one over, the headers from it",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1)}\n  - key: b\n    ${limit("hour", 5)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "2"]]], times: 3 }],
  },
  {
    name: "a quota_mode descriptor over its limit beside an enforced one",
    config: `domain: DOMAIN\ndescriptors:\n  - key: q\n    quota_mode: true\n    ${limit("minute", 1)}\n  - key: e\n    ${limit("minute", 2)}\n`,
    steps: [{ descriptors: [[["q", "1"]], [["e", "1"]]], times: 4 }],
  },
];

interface Setting {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly args: string[];
}

const settings: Setting[] = [
  { name: "SHADOW_MODE=true and --global-shadow-mode", env: { SHADOW_MODE: "true" }, args: ["--global-shadow-mode"] },
  {
    name: "LIMIT_*_HEADER and --response-header-names",
    env: {
      LIMIT_LIMIT_HEADER: "X-Quota-Limit",
      LIMIT_REMAINING_HEADER: "X-Quota-Remaining",
      LIMIT_RESET_HEADER: "X-Quota-Reset",
    },
    args: ["--response-header-names", "X-Quota-Limit,X-Quota-Remaining,X-Quota-Reset"],
  },
  // Gantry's local cache is on by default, the anchor's off: each side with it on, then with it off.
  {
    name: "LOCAL_CACHE_SIZE_IN_BYTES and the local cache (on)",
    env: { LOCAL_CACHE_SIZE_IN_BYTES: "1048576" },
    args: [],
  },
  {
    name: "LOCAL_CACHE_SIZE_IN_BYTES=0 and --no-local-cache",
    env: { LOCAL_CACHE_SIZE_IN_BYTES: "0" },
    args: ["--no-local-cache"],
  },
];

describe.skipIf(!anchorCommand || !haveRedis()).each(settings)("$name", (setting) => {
  let redis: RedisServer;
  let root: string;
  let anchor: RlsPeer;
  let gantry: RlsPeer;
  const domainOf = (index: number) => `setting-${index}`;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "gantry-compat-rl-settings-"));
    const files: Record<string, string> = {};
    cases.forEach((c, i) => {
      if (c.config) files[`${domainOf(i)}.yaml`] = c.config.replaceAll("DOMAIN", domainOf(i));
    });
    writeConfigs(root, files);
    redis = await startRedis();
    [anchor, gantry] = await Promise.all([
      startAnchor(anchorCommand as string, { root, redisPort: redis.port, keyPrefix: "anchor:", env: setting.env }),
      startGantry({ root, redisPort: redis.port, keyPrefix: "gantry:", args: setting.args }),
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([anchor?.stop(), gantry?.stop()]);
    await redis?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c: CompatCase, index) => {
    await compareCase(anchor, gantry, c, domainOf(index));
  });

  it("refuses an empty domain and an empty descriptor list with the anchor's code and message", async () => {
    for (const request of [
      requestOf({ descriptors: [[["k", "v"]]], domain: "" }, ""),
      requestOf({ descriptors: [] }, domainOf(0)),
    ]) {
      const theirs = await anchor.failure(request);
      expect(theirs?.code).toBe("UNKNOWN");
      expect(await gantry.failure(request)).toEqual(theirs);
    }
  });
});
