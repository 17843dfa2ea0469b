import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { hash as argon2Hash } from "@node-rs/argon2";
import { hashSync as bcryptHash } from "@node-rs/bcrypt";
import { afterAll, describe, expect, it } from "vitest";
import { AuthConfigError, type Evaluator, type Verdict } from "../../../src/extauth/evaluator.js";
import { basicCredentials, createBasicAuthEvaluator } from "../../../src/extauth/evaluators/basic.js";
import { apr1Hash, parsePasswordHash, verifyPassword } from "../../../src/extauth/evaluators/password-hash.js";
import { BasicAuthSchema } from "../../../src/gen/gantry/extauth/v1/basic_pb.js";
import { ManualClock } from "../../../src/lib/index.js";
import { findTool } from "../../support/index.js";
import { context, quietLogger } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "gantry-basic-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

async function evaluator(settings: Parameters<typeof create<typeof BasicAuthSchema>>[1], clock = new ManualClock()) {
  return createBasicAuthEvaluator(
    create(BasicAuthSchema, settings),
    { clock, logger: quietLogger, redis: undefined, baseDir: dir },
    "configs[0].basicAuth",
  );
}

async function verdict(e: Evaluator, headers: Record<string, string>): Promise<Verdict> {
  return e.evaluate(context({ headers }));
}

describe("password hashes", () => {
  it("computes APR1-MD5 as htpasswd and openssl do", async () => {
    // From `openssl passwd -apr1 -salt abcdefgh secret`.
    expect(apr1Hash("secret", "abcdefgh")).toBe("h9FWgUz3n9YxylKLlR5SQ/");
    const openssl = findTool("openssl");
    if (openssl) {
      for (const [password, salt] of [
        ["", "s"],
        ["a much longer password than sixteen bytes", "12345678"],
        ["pässwörd", "xY./"],
      ] as const) {
        const line = execFileSync(openssl, ["passwd", "-apr1", "-salt", salt, password], { encoding: "utf8" }).trim();
        const parsed = parsePasswordHash(line);
        expect(parsed).toMatchObject({ scheme: "apr1", salt });
        expect(await verifyPassword(password, parsed as never)).toBe(true);
        expect(await verifyPassword(`${password}x`, parsed as never)).toBe(false);
      }
    }
  });

  it("verifies SHA-1, bcrypt and argon2 hashes", async () => {
    const sha = parsePasswordHash(
      `{SHA}${Buffer.from("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "hex").toString("base64")}`,
    );
    expect(await verifyPassword("password", sha as never)).toBe(true);
    expect(await verifyPassword("Password", sha as never)).toBe(false);
    const bcrypt = parsePasswordHash(bcryptHash("hunter2", 4));
    expect(await verifyPassword("hunter2", bcrypt as never)).toBe(true);
    expect(await verifyPassword("hunter3", bcrypt as never)).toBe(false);
    const argon = parsePasswordHash(await argon2Hash("correct horse"));
    expect(await verifyPassword("correct horse", argon as never)).toBe(true);
    expect(await verifyPassword("correct horsf", argon as never)).toBe(false);
  });

  it("refuses clear text and malformed hashes", () => {
    expect(parsePasswordHash("hunter2")).toMatch(/unknown hash scheme/);
    expect(parsePasswordHash("$apr1$salt$short")).toMatch(/malformed APR1/);
    expect(parsePasswordHash("{SHA}AAAA")).toMatch(/malformed SHA-1/);
  });
});

describe("basicAuth", () => {
  it("reads Basic credentials", () => {
    // A user id cannot contain a colon (RFC 7617): the first colon ends it.
    expect(basicCredentials(basic("al:ice", "pw").authorization)).toEqual({ user: "al", password: "ice:pw" });
    expect(basicCredentials(basic("alice", "p:w").authorization)).toEqual({ user: "alice", password: "p:w" });
    expect(basicCredentials("Bearer x")).toBeUndefined();
    expect(basicCredentials(undefined)).toBeUndefined();
  });

  it("allows the right password for each scheme and challenges everything else", async () => {
    writeFileSync(join(dir, "users.htpasswd"), `# team\ncarol:${bcryptHash("carol-pw", 4)}\n`);
    const e = await evaluator({
      realm: "shop",
      users: { alice: "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/", bob: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" },
      htpasswdFile: "users.htpasswd",
    });
    expect(await verdict(e, basic("alice", "secret"))).toEqual({ kind: "allow", dynamicMetadata: { user: "alice" } });
    expect((await verdict(e, basic("bob", "password"))).kind).toBe("allow");
    expect((await verdict(e, basic("carol", "carol-pw"))).kind).toBe("allow");
    for (const headers of [basic("alice", "wrong"), basic("mallory", "secret"), {}, { authorization: "Basic !!" }]) {
      expect(await verdict(e, headers)).toMatchObject({
        kind: "deny",
        status: 401,
        headers: [{ name: "www-authenticate", value: 'Basic realm="shop"' }],
      });
    }
  });

  it("skips the slow hash for recently verified credentials, until they age out", async () => {
    const clock = new ManualClock();
    const e = await evaluator({ users: { dave: bcryptHash("dave-pw", 4) } }, clock);
    expect(await verdict(e, basic("dave", "dave-pw"))).toMatchObject({ kind: "allow" });
    expect(e.evaluate(context({ headers: basic("dave", "dave-pw") }))).toMatchObject({ kind: "allow" });
    expect(e.evaluate(context({ headers: basic("dave", "wrong") }))).toBeInstanceOf(Promise);
    // An unknown user costs a hash check too, so timing does not tell which users exist.
    const unknown = e.evaluate(context({ headers: basic("mallory", "dave-pw") }));
    expect(unknown).toBeInstanceOf(Promise);
    expect(await unknown).toMatchObject({ kind: "deny", status: 401 });
    clock.advance(5 * 60_000);
    expect(e.evaluate(context({ headers: basic("dave", "dave-pw") }))).toBeInstanceOf(Promise);
  });

  it("names the field of a bad setting", async () => {
    const failure = async (settings: Parameters<typeof evaluator>[0]) => {
      try {
        await evaluator(settings);
      } catch (err) {
        expect(err).toBeInstanceOf(AuthConfigError);
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    expect(await failure({ users: { alice: "plain" } })).toMatch(
      /^configs\[0\]\.basicAuth\.users\.alice: unknown hash/,
    );
    expect(await failure({})).toMatch(/^configs\[0\]\.basicAuth: no users/);
    expect(await failure({ htpasswdFile: "missing" })).toMatch(/^configs\[0\]\.basicAuth\.htpasswdFile: cannot read/);
    writeFileSync(join(dir, "bad.htpasswd"), "ok:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\nbroken\n");
    expect(await failure({ htpasswdFile: "bad.htpasswd" })).toMatch(/htpasswdFile: line 2: expected user:hash/);
    expect(await failure({ users: { a: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" }, realm: 'x"y' })).toMatch(/realm/);
  });
});
