import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExtAuthServer, parseAuthConfigFile, startExtAuthServer } from "../../src/extauth/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/index.js";
import { checkClient, checkRequest, quietLogger, summary } from "./helpers.js";

const file = fileURLToPath(new URL("../../examples/extauth/auth-configs.yaml", import.meta.url));

describe.skipIf(!haveRedis())("examples/extauth", () => {
  let redis: RedisServer;
  let server: ExtAuthServer;
  beforeAll(async () => {
    redis = await startRedis();
    server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      configFile: file,
      redisUrl: redis.url,
      logger: quietLogger,
    });
  });
  afterAll(async () => {
    await server?.stop();
    await redis?.close();
  });

  it("loads every example config", () => {
    expect(server.configIds).toEqual(
      parseAuthConfigFile(readFileSync(file, "utf8"), file)
        .map((c) => c.id)
        .sort(),
    );
  });

  it("lets the documented admin in and keeps the suspended one out", async () => {
    const client = checkClient(server.grpcPort);
    const basic = (user: string, password: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
    });
    try {
      expect(
        summary(await client.check(checkRequest({ configId: "admin", headers: basic("ops", "change-me") }))).allowed,
      ).toBe(true);
      const internal = summary(await client.check(checkRequest({ configId: "internal-api" })));
      expect(internal).toMatchObject({ allowed: false, httpStatus: 401, body: '{"error":"unauthorized"}' });
    } finally {
      client.close();
    }
  });
});
