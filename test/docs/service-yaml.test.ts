import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DescMessage, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { envoyRegistry, validateMessage } from "../../src/envoy/index.js";
import { startExtAuthServer } from "../../src/extauth/index.js";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { HttpFilterSchema } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { createLogger } from "../../src/lib/index.js";
import { checkConfigs, parseRateLimitYaml } from "../../src/ratelimit/index.js";
import { parseResources } from "../../src/resources/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { needTool } from "../support/tools.js";

/**
 * Every ```yaml block of the ext-auth, rate-limit and security docs goes through the loader a user's copy
 * of it would meet: auth configs (whole files, or one step of one) through `gantry extauth`'s config file
 * path, with every evaluator built; rate-limit files through the rate-limit loader and its checks; Envoy
 * fragments decoded as the Envoy types they are and checked against Envoy's validation rules;
 * gantry/v1 documents through the resource loader. A block this test cannot place fails it.
 */
const root = new URL("../..", import.meta.url).pathname;
const docs = [
  "docs/extauth.md",
  "docs/extauth-oidc.md",
  "docs/extauth-opa-ldap-passthrough.md",
  "docs/ratelimit.md",
  "docs/migrating-from-envoy-ratelimit.md",
  "docs/migrating-from-opa-envoy.md",
  "docs/reliability.md",
  "docs/security.md",
];

interface Block {
  readonly doc: string;
  readonly line: number;
  readonly text: string;
}

function yamlBlocks(doc: string): Block[] {
  const text = readFileSync(join(root, doc), "utf8");
  const blocks: Block[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```yaml") continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1] !== "```") i++;
    blocks.push({ doc, line: start + 1, text: lines.slice(start, i + 1).join("\n") });
    i++;
  }
  return blocks;
}

type Kind = "auth-configs" | "auth-step" | "ratelimit" | "envoy-clusters" | "envoy-ext-authz" | "resources";

/** The evaluators a step fragment starts with. */
const stepKeys = ["basicAuth", "apiKeyAuth", "oauth2", "jwtAuthn", "hmacAuth", "opaAuth", "ldap", "passThroughAuth"];

function kindOf(block: Block): Kind {
  const value = parse(block.text) as unknown;
  if (Array.isArray(value)) return "envoy-clusters";
  const keys = Object.keys(value as object);
  if (keys.includes("apiVersion")) return "resources";
  if (keys.includes("domain")) return "ratelimit";
  if (keys.includes("http_filters")) return "envoy-ext-authz";
  if (keys.length === 1 && stepKeys.includes(keys[0] ?? "")) return "auth-step";
  return "auth-configs";
}

// The opaAuth evaluator reads its environment when its module loads, before any hook of this file runs.
const opaCacheDir = await vi.hoisted(async () => {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { findTool } = await import("../support/tools.js");
  const opa = findTool("opa");
  if (opa) process.env["GANTRY_OPA_COMMAND"] = opa;
  const dir = mkdtempSync(join(tmpdir(), "gantry-doc-yaml-opa-"));
  process.env["GANTRY_OPA_CACHE_DIR"] = dir;
  return dir;
});

const blocks = docs.flatMap(yamlBlocks);
const logger = createLogger({ service: "test", level: "silent" });
const opa = needTool("opa", "build it with `node scripts/test-prereqs.mjs` (npm test does this)");

/** Decodes `json` as `schema` (with every `Any` Gantry knows) and returns Envoy's rule violations. */
function envoyViolations(schema: DescMessage, json: unknown): string[] {
  const message = fromJson(schema, json as JsonValue, { registry: envoyRegistry });
  return validateMessage(schema, message).map((v) => `${v.path}: ${v.message}`);
}

describe.skipIf(!haveRedis())("the YAML examples of the ext-auth, rate-limit and security docs load", () => {
  let redis: RedisServer;
  let dir: string;

  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), "gantry-doc-yaml-"));
    // The files the examples name, relative to the config file as the docs say.
    cpSync(join(root, "examples/extauth/users.htpasswd"), join(dir, "users.htpasswd"));
    cpSync(join(root, "examples/extauth/jwks.json"), join(dir, "jwks.json"));
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets/gantry-client-secret"), "client-secret\n");
    writeFileSync(join(dir, "secrets/ldap-reader"), "reader-password\n");
    writeFileSync(join(dir, "secrets/cookie.key"), `${Buffer.alloc(32, 7).toString("base64")}\n`);
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies/rbac.rego"), "package envoy.authz\n\ndefault allow := false\n");
  }, 30_000);

  afterAll(async () => {
    await redis?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(opaCacheDir, { recursive: true, force: true });
  });

  /** Loads an auth config file the way `gantry extauth --config` does; resolves to the config ids. */
  async function loadAuthConfigs(yaml: string): Promise<string[]> {
    const file = join(dir, "auth.yaml");
    writeFileSync(file, yaml);
    const server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      configFile: file,
      redisUrl: redis.url,
      logger,
    });
    const ids = server.configIds;
    await server.stop();
    return ids;
  }

  it("finds the blocks", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(15);
  });

  it.each(blocks.map((b) => [`${b.doc}:${b.line}`, b] as const))("%s", async (_where, block) => {
    const kind = kindOf(block);
    const value = parse(block.text) as Record<string, unknown>;
    switch (kind) {
      case "auth-configs": {
        const needsOpa = block.text.includes("opaAuth:");
        if (needsOpa && !opa) return;
        expect(await loadAuthConfigs(block.text)).toEqual(Object.keys(value).sort());
        return;
      }
      case "auth-step": {
        if (block.text.startsWith("opaAuth:") && !opa) return;
        // One step of a config: the docs show the evaluator's settings alone.
        const file = `doc-example:\n  configs:\n    - ${block.text.replaceAll("\n", "\n      ")}\n`;
        expect(await loadAuthConfigs(file)).toEqual(["doc-example"]);
        return;
      }
      case "ratelimit": {
        const config = parseRateLimitYaml(block.text, `${block.doc}:${block.line}`);
        expect(() => checkConfigs([config])).not.toThrow();
        return;
      }
      case "envoy-clusters":
        for (const cluster of value as unknown as unknown[])
          expect(envoyViolations(ClusterSchema, cluster)).toEqual([]);
        return;
      case "envoy-ext-authz": {
        for (const filter of value["http_filters"] as unknown[])
          expect(envoyViolations(HttpFilterSchema, filter)).toEqual([]);
        for (const config of Object.values(value["typed_per_filter_config"] as Record<string, unknown>))
          expect(envoyViolations(AnySchema, config)).toEqual([]);
        return;
      }
      case "resources": {
        const result = parseResources(block.text, `${block.doc}:${block.line}`);
        expect(result.rejected).toEqual([]);
        expect(result.resources).toHaveLength(1);
        return;
      }
    }
  });
});
