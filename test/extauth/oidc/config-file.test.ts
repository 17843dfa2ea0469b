import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExtAuthServer } from "../../../src/extauth/index.js";
import { createLogger } from "../../../src/lib/index.js";
import { haveRedis, type RedisServer, startRedis } from "../../support/redis.js";

/** The YAML example of docs/extauth-oidc.md, so the documentation cannot drift from what loads. */
function documentedExample(): string {
  const doc = readFileSync(join(import.meta.dirname, "../../../docs/extauth-oidc.md"), "utf8");
  const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  if (example === undefined) throw new Error("docs/extauth-oidc.md has no yaml example");
  return example;
}

describe.skipIf(!haveRedis())("OIDC settings in an auth config file", () => {
  let redis: RedisServer;
  const dir = mkdtempSync(join(tmpdir(), "gantry-oidc-config-"));
  const logger = createLogger({ service: "test", level: "silent" });

  beforeAll(async () => {
    redis = await startRedis();
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets", "gantry-client-secret"), "s3cret\n");
  });

  afterAll(async () => {
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function load(yaml: string): Promise<string[]> {
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

  it("loads the documented example", async () => {
    expect(await load(documentedExample())).toEqual(["app"]);
  });

  it("names the config and the field of a bad setting", async () => {
    const bad = documentedExample().replace("sameSite: lax", "sameSite: sometimes");
    await expect(load(bad)).rejects.toThrow(
      /auth config "app".*configs\[0\]\.oauth2\.oidcAuthorizationCode\.session\.cookieOptions\.sameSite.*"sometimes" is not lax, strict or none/,
    );
  });

  it("names a secret file that cannot be read", async () => {
    const bad = documentedExample().replace("secrets/gantry-client-secret", "secrets/missing");
    await expect(load(bad)).rejects.toThrow(
      /oidcAuthorizationCode\.clientSecret\.secretFile: cannot read .*missing \(ENOENT\)/,
    );
  });
});
