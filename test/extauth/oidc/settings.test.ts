import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { exportPKCS8, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { AuthConfigError } from "../../../src/extauth/evaluator.js";
import { createOidcEvaluator } from "../../../src/extauth/evaluators/oidc/index.js";
import { parseOidcSettings } from "../../../src/extauth/evaluators/oidc/settings.js";
import { OidcAuthorizationCodeSchema } from "../../../src/gen/gantry/extauth/v1/oidc_pb.js";
import { createLogger, ManualClock } from "../../../src/lib/index.js";

type Settings = Exclude<MessageInitShape<typeof OidcAuthorizationCodeSchema>, { $typeName: string }>;

const field = "configs[0].oauth2.oidcAuthorizationCode";
const key = Buffer.alloc(32, 1).toString("base64");

function minimal(overrides: Settings = {}): Settings {
  return {
    issuerUrl: "https://idp.example",
    clientId: "app",
    clientAuthentication: { case: "clientSecret", value: { secret: "s3cret" } },
    appUrl: "https://app.example/base/",
    session: { store: { case: "cookie", value: { encryptionKey: key } } },
    ...overrides,
  };
}

function parse(settings: Settings, baseDir = "/") {
  return parseOidcSettings(create(OidcAuthorizationCodeSchema, settings), baseDir, field);
}

async function problem(settings: Settings, baseDir = "/"): Promise<AuthConfigError> {
  const err = await parse(settings, baseDir).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AuthConfigError)) throw new Error(`expected an AuthConfigError, got ${String(err)}`);
  return err;
}

describe("OIDC settings", () => {
  it("fills the defaults", async () => {
    const parsed = await parse(minimal());
    expect(parsed.appOrigin).toBe("https://app.example");
    expect(parsed.callbackPath).toBe("/oidc/callback");
    expect(parsed.redirectUri).toBe("https://app.example/oidc/callback");
    expect(parsed.logoutPath).toBeUndefined();
    expect(parsed.afterLogoutUrl).toBe("https://app.example/base/");
    expect(parsed.scopes).toEqual(["openid"]);
    expect(parsed.cookie).toEqual({
      name: "__session",
      secure: true,
      httpOnly: true,
      sameSite: "Lax",
      domain: undefined,
      path: "/",
    });
    expect(parsed.sessionMaxAgeMs).toBe(30 * 24 * 60 * 60_000);
    expect(parsed.refreshBufferMs).toBe(30_000);
    expect(parsed.providerTimeoutMs).toBe(5_000);
    expect(parsed.loginTimeoutMs).toBe(600_000);
    expect(parsed.clientAuthentication).toEqual({ kind: "secret", secret: "s3cret", inBody: false });
  });

  it("takes scopes, params, cookie options and forwarding as given", async () => {
    const parsed = await parse(
      minimal({
        scopes: ["email", "openid", "offline_access"],
        authEndpointQueryParams: { prompt: "consent", audience: "api" },
        tokenEndpointQueryParams: { resource: "https://api.example" },
        session: {
          store: { case: "redis", value: { keyPrefix: "sessions:" } },
          cookieOptions: {
            name: "sid",
            secure: false,
            httpOnly: false,
            sameSite: "strict",
            domain: ".example",
            path: "/app",
          },
          refreshBuffer: durationFromMs(5_000),
        },
        forwardTokens: { idTokenHeader: "X-ID-Token", bearer: true },
        claimsToHeaders: [{ claim: "email", header: "X-Email", append: true }],
      }),
    );
    expect(parsed.scopes).toEqual(["openid", "email", "offline_access"]);
    expect(parsed.authParams).toEqual([
      ["audience", "api"],
      ["prompt", "consent"],
    ]);
    expect(parsed.tokenParams).toEqual([["resource", "https://api.example"]]);
    expect(parsed.storage).toEqual({ kind: "redis", keyPrefix: "sessions:" });
    expect(parsed.cookie).toEqual({
      name: "sid",
      secure: false,
      httpOnly: false,
      sameSite: "Strict",
      domain: ".example",
      path: "/app",
    });
    expect(parsed.refreshBufferMs).toBe(5_000);
    expect(parsed.idTokenHeader).toBe("x-id-token");
    expect(parsed.claimsToHeaders).toEqual([{ claim: "email", header: "x-email", append: true }]);
  });

  it("reads secrets and keys from files relative to the config's folder", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-oidc-"));
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    writeFileSync(join(dir, "client.pem"), await exportPKCS8(privateKey));
    writeFileSync(join(dir, "cookie.key"), `${key}\n`);
    const parsed = await parse(
      minimal({
        clientAuthentication: {
          case: "privateKeyJwt",
          value: { privateKeyFile: "client.pem", algorithm: "ES256", keyId: "k1" },
        },
        session: { store: { case: "cookie", value: { encryptionKeyFile: "cookie.key" } } },
      }),
      dir,
    );
    expect(parsed.clientAuthentication).toMatchObject({ kind: "privateKeyJwt", algorithm: "ES256", keyId: "k1" });
    expect(parsed.storage).toEqual({ kind: "cookie", key: Buffer.alloc(32, 1) });
  });

  it.each<[string, Settings, string]>([
    ["issuerUrl", { issuerUrl: "" }, `${field}.issuerUrl: is required`],
    ["issuerUrl", { issuerUrl: "idp.example" }, `${field}.issuerUrl: "idp.example" is not an absolute URL`],
    ["clientId", { clientId: "" }, `${field}.clientId: is required`],
    ["appUrl", { appUrl: "ftp://app" }, `${field}.appUrl: "ftp://app" must be an http or https URL`],
    [
      "client authentication",
      { clientAuthentication: { case: undefined } },
      `${field}.clientSecret: a client authentication is required`,
    ],
    [
      "secret and file",
      { clientAuthentication: { case: "clientSecret", value: { secret: "a", secretFile: "b" } } },
      `${field}.clientSecret.secret: set either it or ${field}.clientSecret.secretFile, not both`,
    ],
    [
      "missing secret file",
      { clientAuthentication: { case: "clientSecret", value: { secretFile: "nope.txt" } } },
      `${field}.clientSecret.secretFile: cannot read /nope.txt (ENOENT)`,
    ],
    [
      "algorithm",
      { clientAuthentication: { case: "privateKeyJwt", value: { privateKey: "x", algorithm: "HS256" } } },
      `${field}.privateKeyJwt.algorithm: "HS256" is not one of`,
    ],
    [
      "private key",
      { clientAuthentication: { case: "privateKeyJwt", value: { privateKey: "not a pem" } } },
      `${field}.privateKeyJwt.privateKey: is not a PKCS#8 PEM key usable with RS256`,
    ],
    ["callbackPath", { callbackPath: "oidc/cb" }, `${field}.callbackPath: "oidc/cb" must be an absolute path`],
    ["logoutPath", { logoutPath: "/oidc/callback" }, `${field}.logoutPath: must differ from callbackPath`],
    ["scopes", { scopes: ["email", "bad scope"] }, `${field}.scopes[1]: "bad scope" is not a valid scope`],
    [
      "reserved auth param",
      { authEndpointQueryParams: { state: "x" } },
      `${field}.authEndpointQueryParams.state: is set by the login flow itself`,
    ],
    [
      "reserved token param",
      { tokenEndpointQueryParams: { code_verifier: "x" } },
      `${field}.tokenEndpointQueryParams.code_verifier: is set by the login flow itself`,
    ],
    ["session store", { session: {} }, `${field}.session: a session store is required: redis or cookie`],
    [
      "cookie key",
      { session: { store: { case: "cookie", value: { encryptionKey: "c2hvcnQ=" } } } },
      `${field}.session.cookie.encryptionKey: must be 32 random bytes, base64-encoded`,
    ],
    [
      "sameSite",
      { session: { store: { case: "redis", value: {} }, cookieOptions: { sameSite: "sometimes" } } },
      `${field}.session.cookieOptions.sameSite: "sometimes" is not lax, strict or none`,
    ],
    [
      "sameSite none without secure",
      { session: { store: { case: "redis", value: {} }, cookieOptions: { sameSite: "none", secure: false } } },
      `${field}.session.cookieOptions.sameSite: none requires secure cookies`,
    ],
    [
      "cookie name",
      { session: { store: { case: "redis", value: {} }, cookieOptions: { name: "a b" } } },
      `${field}.session.cookieOptions.name: "a b" is not a valid cookie name`,
    ],
    [
      "maxAge",
      { session: { store: { case: "redis", value: {} }, cookieOptions: { maxAge: durationFromMs(0) } } },
      `${field}.session.cookieOptions.maxAge: must be a positive duration`,
    ],
    [
      "header name",
      { forwardTokens: { accessTokenHeader: "bad header" } },
      `${field}.forwardTokens.accessTokenHeader: "bad header" is not a valid header name`,
    ],
    [
      "claim header",
      { claimsToHeaders: [{ claim: "email", header: "" }] },
      `${field}.claimsToHeaders[0].header: is required`,
    ],
  ])("names the field of a bad %s", async (_what, overrides, message) => {
    const err = await problem(minimal(overrides));
    expect(err.message.startsWith(message)).toBe(true);
  });

  it("needs the ext-auth Redis for Redis sessions", async () => {
    const settings = create(OidcAuthorizationCodeSchema, minimal({ session: { store: { case: "redis", value: {} } } }));
    const deps = {
      clock: new ManualClock(),
      logger: createLogger({ service: "test", level: "silent" }),
      redis: undefined,
      baseDir: "/",
    };
    await expect(createOidcEvaluator(settings, deps, field)).rejects.toThrow(
      `${field}.session.redis: needs the ext-auth server to run with a Redis`,
    );
  });

  it("never puts a secret in an error", async () => {
    const err = await problem(
      minimal({
        clientAuthentication: {
          case: "privateKeyJwt",
          value: { privateKey: "-----BEGIN PRIVATE KEY-----\nsecretbits" },
        },
      }),
    );
    expect(err.message).not.toContain("secretbits");
  });
});
