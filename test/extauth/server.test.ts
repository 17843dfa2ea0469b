import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExtAuthServer, startExtAuthServer } from "../../src/extauth/index.js";
import { AuthConfigSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { waitFor } from "../support/index.js";
import { type CheckClient, checkClient, checkRequest, quietLogger, summary } from "./helpers.js";

// {SHA} hashes of "password" and "letmein".
const passwordHash = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=";
const letmeinHash = "{SHA}t6h1/B6iKLkGEEG3zsS9PFKrPOM=";
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

const firstConfig = `
shop:
  configs:
    - name: users
      basicAuth: { realm: shop, users: { alice: "${passwordHash}" } }
admin:
  booleanExpr: "admins && !banned"
  denyResponse: { status: 404, body: "no such page", headers: { x-denied-by: gantry } }
  configs:
    - name: admins
      basicAuth: { users: { root: "${passwordHash}", eve: "${letmeinHash}" } }
    - name: banned
      basicAuth: { users: { eve: "${letmeinHash}" } }
`;

describe("ext-auth server", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-extauth-"));
  const file = join(dir, "auth.yaml");
  let server: ExtAuthServer;
  let client: CheckClient;

  /** Replaces the file the way editors and ConfigMaps do: write aside, rename over. */
  const writeConfig = (text: string) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };
  const check = async (shape: Parameters<typeof checkRequest>[0]) => summary(await client.check(checkRequest(shape)));
  const metrics = async () => (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();

  beforeAll(async () => {
    writeConfig(firstConfig);
    server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      configFile: file,
      defaultConfigId: "shop",
      logger: quietLogger,
    });
    client = checkClient(server.grpcPort);
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("allows good credentials and answers 401 with a challenge otherwise", async () => {
    const ok = await check({ configId: "shop", headers: basic("alice", "password") });
    expect(ok.allowed).toBe(true);
    expect(ok.metadata).toEqual({ user: "alice" });
    const bad = await check({ configId: "shop", headers: basic("alice", "nope") });
    expect(bad).toMatchObject({
      allowed: false,
      httpStatus: 401,
      headers: { "www-authenticate": 'Basic realm="shop"' },
      body: "",
      metadata: { config_id: "shop", step: "users", reason: "missing or invalid basic credentials" },
    });
  });

  it("uses the default config when the request names none, and denies unknown ids with the reason", async () => {
    expect((await check({ headers: basic("alice", "password") })).allowed).toBe(true);
    const unknown = await check({ configId: "nope", headers: basic("alice", "password") });
    expect(unknown).toMatchObject({
      allowed: false,
      httpStatus: 403,
      metadata: { config_id: "nope", reason: 'unknown auth config "nope"' },
    });
  });

  it("combines steps by the boolean expression and shapes denials by denyResponse", async () => {
    expect((await check({ configId: "admin", headers: basic("root", "password") })).allowed).toBe(true);
    const banned = await check({ configId: "admin", headers: basic("eve", "letmein") });
    expect(banned).toMatchObject({
      allowed: false,
      httpStatus: 404,
      body: "no such page",
      headers: { "x-denied-by": "gantry" },
      metadata: { step: "banned" },
    });
    const stranger = await check({ configId: "admin", headers: basic("bob", "x") });
    expect(stranger).toMatchObject({ httpStatus: 404, headers: { "www-authenticate": 'Basic realm="gantry"' } });
  });

  it("counts checks by config id and result", async () => {
    const text = await metrics();
    expect(text).toMatch(/gantry_extauth_checks_total\{config_id="shop",result="allow",service="extauth"\} [1-9]/);
    expect(text).toMatch(/gantry_extauth_checks_total\{config_id="shop",result="deny",service="extauth"\} [1-9]/);
    expect(text).toMatch(/gantry_extauth_checks_total\{config_id="\(unknown\)",result="unknown_config"/);
    expect(text).toMatch(
      /gantry_extauth_step_results_total\{config_id="admin",step="banned",evaluator="basicAuth",result="allow"/,
    );
    expect(text).toContain("gantry_extauth_check_duration_seconds_bucket");
  });

  it("reloads a changed file, and keeps the last good configs when the new file is bad", async () => {
    writeConfig(firstConfig.replace('users: { alice: "', 'users: { carol: "'));
    await waitFor(async () => (await check({ configId: "shop", headers: basic("carol", "password") })).allowed, {
      what: "the reloaded config to allow carol",
    });
    expect((await check({ configId: "shop", headers: basic("alice", "password") })).allowed).toBe(false);

    writeConfig(
      `${firstConfig}\nbroken:\n  booleanExpr: "a &&"\n  configs: [{ name: a, basicAuth: { users: { x: "${passwordHash}" } } }]\n`,
    );
    await waitFor(
      async () => (await metrics()).match(/gantry_extauth_config_reloads_total\{result="failure"[^\n]* [1-9]/),
      {
        what: "the failed reload to be counted",
      },
    );
    // A file that is not even valid YAML, and one with an unknown field, are counted as failures too.
    const failures = async () =>
      Number(/gantry_extauth_config_reloads_total\{result="failure"[^\n]* (\d+)/.exec(await metrics())?.[1] ?? 0);
    const before = await failures();
    writeConfig(`${firstConfig}\nbad: [unclosed\n`);
    await waitFor(async () => (await failures()) === before + 1, { what: "the YAML syntax error to be counted" });
    writeConfig(`${firstConfig}\nother:\n  bogusField: 1\n`);
    await waitFor(async () => (await failures()) === before + 2, { what: "the unknown field to be counted" });
    // Nothing of the bad files was applied: the previous configs answer as before.
    expect((await check({ configId: "shop", headers: basic("carol", "password") })).allowed).toBe(true);
    expect((await check({ configId: "broken" })).metadata["reason"]).toBe('unknown auth config "broken"');
    expect(server.configIds).toEqual(["admin", "shop"]);
  });

  it("takes configs from a caller too, rejecting a bad set as a whole", async () => {
    const good = create(AuthConfigSchema, {
      id: "api",
      configs: [{ evaluator: { case: "basicAuth", value: { users: { ann: passwordHash } } } }],
    });
    await server.setConfigs([good]);
    expect(server.configIds).toEqual(["api"]);
    expect((await check({ configId: "api", headers: basic("ann", "password") })).allowed).toBe(true);

    const bad = create(AuthConfigSchema, {
      id: "bad",
      booleanExpr: "config_0 || nobody",
      configs: [{ evaluator: { case: "basicAuth", value: { users: { ann: passwordHash } } } }],
    });
    await expect(server.setConfigs([good, bad])).rejects.toThrow(
      'auth config "bad": booleanExpr: column 13: no step is named "nobody" (steps: config_0)',
    );
    expect(server.configIds).toEqual(["api"]);
  });

  it("reports readiness and health", async () => {
    expect((await fetch(`http://127.0.0.1:${server.metricsPort}/readyz`)).status).toBe(200);
  });
});

describe("ext-auth server start-up", () => {
  it("refuses to start on a bad config file, naming the file and field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-extauth-bad-"));
    const file = join(dir, "auth.yaml");
    writeFileSync(file, "shop:\n  configs:\n    - basicAuth: { users: { a: plain } }\n");
    try {
      await expect(
        startExtAuthServer({ host: "127.0.0.1", grpcPort: 0, metricsPort: 0, configFile: file, logger: quietLogger }),
      ).rejects.toThrow(`${file}:3: auth config "shop": configs[0].basicAuth.users.a: unknown hash scheme`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
