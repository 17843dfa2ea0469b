import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthConfigError, type CheckContext, type EvaluatorDeps } from "../../../src/extauth/evaluator.js";
import {
  basicCredentials,
  escapeDnValue,
  ldapAuthFactory,
  normalizeDn,
  userDn,
} from "../../../src/extauth/evaluators/ldap/index.js";
import { ConnectionPool } from "../../../src/extauth/evaluators/ldap/pool.js";
import { type ExtAuthServer, startExtAuthServer } from "../../../src/extauth/index.js";
import { CheckRequestSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { AuthConfigSchema } from "../../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { type LdapAuth, LdapAuthSchema } from "../../../src/gen/gantry/extauth/v1/ldap_pb.js";
import { createLogger, ManualClock } from "../../../src/lib/index.js";
import { freePort, waitFor } from "../../support/index.js";
import { haveSlapd, type SlapdServer, startSlapd } from "../../support/slapd.js";
import { type CheckClient, checkClient, checkRequest, quietLogger, summary } from "../helpers.js";

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function checkContext(authorization?: string, signal = new AbortController().signal): CheckContext {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const request = create(CheckRequestSchema, {
    attributes: { request: { http: { method: "GET", path: "/", host: "app.example.org", headers } } },
  });
  return { request, headers, state: new Map(), signal };
}

describe("LDAP names and credentials", () => {
  it("escapes DN values so a user name cannot reshape the DN", () => {
    expect(escapeDnValue("alice")).toBe("alice");
    expect(escapeDnValue("a,ou=admins")).toBe("a\\,ou\\=admins");
    expect(escapeDnValue('x+y"<>;\\')).toBe('x\\+y\\"\\<\\>\\;\\\\');
    expect(escapeDnValue("#lead trail ")).toBe("\\#lead trail\\ ");
    expect(escapeDnValue(" x")).toBe("\\ x");
    expect(escapeDnValue("nul\u0000")).toBe("nul\\00");
    expect(userDn("uid=%s,ou=people,dc=example,dc=org", "a,b")).toBe("uid=a\\,b,ou=people,dc=example,dc=org");
    expect(userDn("uid=%s,dc=x", "$&")).toBe("uid=$&,dc=x");
  });

  it("compares DNs without regard to case or spaces around separators", () => {
    expect(normalizeDn("CN=Devs, OU=Groups,dc=Example ,dc=org")).toBe("cn=devs,ou=groups,dc=example,dc=org");
  });

  it("reads Basic credentials", () => {
    expect(basicCredentials({ authorization: basic("alice", "p:w") })).toEqual({ username: "alice", password: "p:w" });
    expect(basicCredentials({ authorization: "Bearer abc" })).toBeUndefined();
    expect(basicCredentials({ authorization: `Basic ${Buffer.from("nocolon").toString("base64")}` })).toBeUndefined();
    expect(basicCredentials({})).toBeUndefined();
  });
});

describe("LDAP connection pool", () => {
  it("hands out at most maxSize connections and queues the rest, bounded to the millisecond", async () => {
    const clock = new ManualClock(0);
    const pool = new ConnectionPool({ url: "ldap://127.0.0.1:1", maxSize: 2, initialSize: 1, timeoutMs: 200, clock });
    expect(pool.size).toBe(1);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(pool.size).toBe(2);
    const waiting = pool.acquire();
    pool.release(a, true);
    expect(await waiting).toBe(a);
    let outcome = "waiting";
    const refused = pool.acquire().then(
      () => "acquired",
      (err: Error) => err.message,
    );
    void refused.then((o) => {
      outcome = o;
    });
    clock.advance(199);
    await new Promise((resolve) => setImmediate(resolve));
    expect(outcome).toBe("waiting");
    clock.advance(1);
    expect(await refused).toBe("no LDAP connection free within 200 ms");
    pool.release(b, false);
    expect(pool.size).toBe(1);
    await pool.close();
  });
});

const suffix = "dc=example,dc=org";
const seed = `dn: ${suffix}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,${suffix}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${suffix}
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,${suffix}
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Liddell
userPassword: alice-pw

dn: uid=bob,ou=people,${suffix}
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Builder
userPassword: bob-pw

dn: uid=eve\\,x,ou=people,${suffix}
objectClass: inetOrgPerson
uid: eve,x
cn: Eve
sn: X
userPassword: eve-pw

dn: cn=devs,ou=groups,${suffix}
objectClass: groupOfNames
cn: devs
member: uid=alice,ou=people,${suffix}
member: uid=eve\\,x,ou=people,${suffix}

dn: cn=ops,ou=groups,${suffix}
objectClass: groupOfNames
cn: ops
member: uid=bob,ou=people,${suffix}
`;

describe.skipIf(!haveSlapd())("ldap evaluator against a real slapd", () => {
  let slapd: SlapdServer;
  let dir: string;
  let clock: ManualClock;
  let deps: EvaluatorDeps;
  const field = "configs[1].ldap";
  const settings = (init: Parameters<typeof create<typeof LdapAuthSchema>>[1] = {}): LdapAuth =>
    create(LdapAuthSchema, {
      address: slapd.url,
      userDnTemplate: `uid=%s,ou=people,${suffix}`,
      allowedGroups: [`CN=devs, ou=groups,${suffix}`],
      timeoutMs: 2_000,
      ...init,
    });

  beforeAll(async () => {
    slapd = await startSlapd({ suffix, entries: seed });
    dir = mkdtempSync(join(tmpdir(), "gantry-ldap-test-"));
    writeFileSync(join(dir, "service-password"), `${slapd.rootPassword}\n`);
    writeFileSync(join(dir, "wrong-password"), "not-it\n");
    clock = new ManualClock();
    deps = { clock, logger: createLogger({ service: "test", level: "silent" }), redis: undefined, baseDir: dir };
  });

  afterAll(async () => {
    await slapd?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("allows a member of an allowed group and shares the identity with later steps", async () => {
    const evaluator = await ldapAuthFactory(settings(), deps, field);
    const context = checkContext(basic("alice", "alice-pw"));
    expect(await evaluator.evaluate(context)).toEqual({ kind: "allow" });
    expect(context.state.get("ldap")).toEqual({
      username: "alice",
      dn: `uid=alice,ou=people,${suffix}`,
      groups: [`cn=devs,ou=groups,${suffix}`],
    });
    await evaluator.close?.();
  });

  it("binds a user whose name needs escaping, and does not let a name reshape the DN", async () => {
    const evaluator = await ldapAuthFactory(settings(), deps, field);
    expect(await evaluator.evaluate(checkContext(basic("eve,x", "eve-pw")))).toEqual({ kind: "allow" });
    expect(await evaluator.evaluate(checkContext(basic(`alice,ou=people,${suffix}`, "alice-pw")))).toMatchObject({
      kind: "deny",
      status: 401,
    });
    await evaluator.close?.();
  });

  it("denies wrong passwords, missing or empty credentials with 401 and outsiders with 403", async () => {
    const evaluator = await ldapAuthFactory(settings(), deps, field);
    expect(await evaluator.evaluate(checkContext(basic("alice", "wrong")))).toEqual({
      kind: "deny",
      status: 401,
      reason: "invalid LDAP credentials",
      headers: [{ name: "www-authenticate", value: 'Basic realm="ldap"' }],
    });
    expect(await evaluator.evaluate(checkContext(basic("nobody", "x")))).toMatchObject({ kind: "deny", status: 401 });
    expect(await evaluator.evaluate(checkContext())).toMatchObject({ kind: "deny", status: 401 });
    expect(await evaluator.evaluate(checkContext(basic("alice", "")))).toMatchObject({
      kind: "deny",
      status: 401,
      reason: "no Basic credentials",
    });
    expect(await evaluator.evaluate(checkContext(basic("bob", "bob-pw")))).toEqual({
      kind: "deny",
      status: 403,
      reason: "the user is in none of the allowed groups",
    });
    await evaluator.close?.();
  });

  it("lets any user who binds pass when no groups are listed, and applies the search filter", async () => {
    const open = await ldapAuthFactory(settings({ allowedGroups: [] }), deps, field);
    expect(await open.evaluate(checkContext(basic("bob", "bob-pw")))).toEqual({ kind: "allow" });
    await open.close?.();
    const filtered = await ldapAuthFactory(settings({ allowedGroups: [], searchFilter: "(cn=Alice)" }), deps, field);
    expect(await filtered.evaluate(checkContext(basic("alice", "alice-pw")))).toEqual({ kind: "allow" });
    expect(await filtered.evaluate(checkContext(basic("bob", "bob-pw")))).toMatchObject({ kind: "deny", status: 403 });
    await filtered.close?.();
  });

  it("reads groups as a service account, and treats a broken service account as a backend failure", async () => {
    const lookup = (passwordFile: string) =>
      ldapAuthFactory(settings({ groupLookupServiceAccount: { bindDn: slapd.rootDn, passwordFile } }), deps, field);
    const good = await lookup("service-password");
    expect(await good.evaluate(checkContext(basic("alice", "alice-pw")))).toEqual({ kind: "allow" });
    await good.close?.();
    const broken = await lookup("wrong-password");
    expect(await broken.evaluate(checkContext(basic("alice", "alice-pw")))).toMatchObject({
      kind: "error",
      reason: expect.stringMatching(/service account cannot bind/),
    });
    await broken.close?.();
  });

  it("binds once for a burst of checks with the same credentials", async () => {
    const evaluator = await ldapAuthFactory(settings({ pool: { maxSize: 2, initialSize: 0 } }), deps, field);
    const before = await slapd.bindCount();
    const verdicts = await Promise.all(
      Array.from({ length: 10 }, () => evaluator.evaluate(checkContext(basic("carol-burst", "x")))),
    );
    expect(verdicts.every((v) => v.kind === "deny" && v.status === 401)).toBe(true);
    const allowed = await Promise.all(
      Array.from({ length: 10 }, () => evaluator.evaluate(checkContext(basic("eve,x", "eve-pw")))),
    );
    expect(allowed.every((v) => v.kind === "allow")).toBe(true);
    expect((await slapd.bindCount()) - before).toBe(2);
    await evaluator.close?.();
  });

  it("answers from its cache while fresh, and reports an error when LDAP is down", async () => {
    const evaluator = await ldapAuthFactory(settings({ cacheTtlSeconds: 10 }), deps, field);
    expect(await evaluator.evaluate(checkContext(basic("alice", "alice-pw")))).toEqual({ kind: "allow" });
    await slapd.stop();
    try {
      clock.advance(9_000);
      const cached = checkContext(basic("alice", "alice-pw"));
      expect(await evaluator.evaluate(cached)).toEqual({ kind: "allow" });
      expect(cached.state.get("ldap")).toMatchObject({ username: "alice" });
      clock.advance(2_000);
      expect(await evaluator.evaluate(checkContext(basic("alice", "alice-pw")))).toMatchObject({
        kind: "error",
        reason: expect.stringMatching(/^LDAP: /),
      });
    } finally {
      await slapd.start();
    }
    expect(await evaluator.evaluate(checkContext(basic("alice", "alice-pw")))).toEqual({ kind: "allow" });
    await evaluator.close?.();
  });

  it("bounds a call to a server that never answers, on the injected clock", async () => {
    const sockets: Socket[] = [];
    let received = 0;
    const silent: Server = createServer((socket) => {
      sockets.push(socket);
      socket.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", resolve));
    try {
      // Far beyond the test's run time, so only the clock's timer, not the LDAP client's own, can fire.
      const evaluator = await ldapAuthFactory(
        settings({ address: `ldap://127.0.0.1:${port}`, timeoutMs: 60_000 }),
        deps,
        field,
      );
      let verdict: unknown;
      const pending = Promise.resolve(evaluator.evaluate(checkContext(basic("alice", "alice-pw")))).then((v) => {
        verdict = v;
        return v;
      });
      await waitFor(() => received > 0, { what: "the bind request to reach the silent server" });
      clock.advance(59_999);
      await new Promise((resolve) => setImmediate(resolve));
      expect(verdict).toBeUndefined();
      clock.advance(1);
      expect(await pending).toEqual({ kind: "error", reason: "LDAP: no answer within 60000 ms" });
      const aborted = new AbortController();
      const cancelled = evaluator.evaluate(checkContext(basic("bob", "bob-pw"), aborted.signal));
      aborted.abort();
      expect(await cancelled).toMatchObject({ kind: "error" });
      await evaluator.close?.();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("rejects bad settings naming the field", async () => {
    const failure = async (init: Parameters<typeof settings>[0]) => {
      try {
        const evaluator = await ldapAuthFactory(settings(init), deps, field);
        await evaluator.close?.();
      } catch (err) {
        expect(err).toBeInstanceOf(AuthConfigError);
        return (err as Error).message;
      }
      throw new Error("expected an AuthConfigError");
    };
    expect(await failure({ address: "http://x" })).toMatch(/^configs\[1\]\.ldap\.address: /);
    expect(await failure({ userDnTemplate: "uid=alice" })).toMatch(/^configs\[1\]\.ldap\.userDnTemplate: .*one %s/);
    expect(await failure({ userDnTemplate: "uid=%s,cn=%s" })).toMatch(/^configs\[1\]\.ldap\.userDnTemplate: /);
    expect(await failure({ searchFilter: "(cn=unclosed" })).toMatch(
      /^configs\[1\]\.ldap\.searchFilter: not an LDAP filter/,
    );
    expect(await failure({ allowedGroups: ["devs"] })).toMatch(
      /^configs\[1\]\.ldap\.allowedGroups\[0\]: "devs" is not a DN/,
    );
    expect(await failure({ pool: { maxSize: 1, initialSize: 3 } })).toMatch(/^configs\[1\]\.ldap\.pool\.initialSize: /);
    expect(await failure({ groupLookupServiceAccount: { bindDn: slapd.rootDn, passwordFile: "missing" } })).toMatch(
      /^configs\[1\]\.ldap\.groupLookupServiceAccount\.passwordFile: cannot read .*ENOENT/,
    );
  });
});

describe("ldap through a real Check call when LDAP is down", () => {
  let server: ExtAuthServer;
  let client: CheckClient;

  beforeAll(async () => {
    const ldap = {
      address: `ldap://127.0.0.1:${await freePort()}`,
      userDnTemplate: `uid=%s,ou=people,${suffix}`,
      timeoutMs: 300,
    };
    const config = (id: string, failureModeAllow: boolean) =>
      create(AuthConfigSchema, {
        id,
        configs: [{ name: "directory", failureModeAllow, evaluator: { case: "ldap", value: ldap } }],
      });
    server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      configs: [config("strict", false), config("lenient", true)],
      logger: quietLogger,
    });
    client = checkClient(server.grpcPort);
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it("denies with the reason in metadata by default, and allows where the step says so", async () => {
    const check = async (configId: string) =>
      summary(await client.check(checkRequest({ configId, headers: { authorization: basic("alice", "alice-pw") } })));
    expect(await check("strict")).toMatchObject({
      allowed: false,
      metadata: { config_id: "strict", step: "directory", reason: expect.stringMatching(/^LDAP: .*ECONNREFUSED/) },
    });
    expect(await check("lenient")).toMatchObject({ allowed: true });
    const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/gantry_extauth_backend_errors_total\{[^}]*config_id="strict"[^}]*\} 1/);
    expect(metrics).toMatch(/gantry_extauth_backend_errors_total\{[^}]*config_id="lenient"[^}]*\} 1/);
  });
});
