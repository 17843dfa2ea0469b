import { createHash } from "node:crypto";
import type { DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { parseDocument, redactDocument, redactedValue, secretFields, specSchemas } from "../../src/resources/index.js";

/**
 * Fields whose names look secret but hold none, each with why. A new field whose name matches
 * `looksSecret` must go either into `secretFields` (src/resources/secrets.ts) or here.
 */
const notSecret: Record<string, string> = {
  "gantry.v1.GatewayTls.secret": "a reference to a Secret resource, not its material",
  "gantry.extauth.v1.Config.api_key_auth": "the evaluator's settings; keys live hashed in Redis",
  "gantry.extauth.v1.ApiKeyAuth.header_name": "the name of a header",
  "gantry.extauth.v1.BasicAuth.htpasswd_file": "a path",
  "gantry.extauth.v1.LdapServiceAccount.password_file": "a path",
  "gantry.extauth.v1.ClientSecret.secret_file": "a path",
  "gantry.extauth.v1.PrivateKeyJwt.private_key_file": "a path",
  "gantry.extauth.v1.PrivateKeyJwt.key_id": "the public `kid` header",
  "gantry.extauth.v1.OidcAuthorizationCode.client_secret": "settings holding ClientSecret.secret (listed)",
  "gantry.extauth.v1.OidcAuthorizationCode.private_key_jwt": "settings holding PrivateKeyJwt.private_key (listed)",
  "gantry.extauth.v1.OidcAuthorizationCode.token_endpoint_query_params": "public request parameters",
  "gantry.extauth.v1.OidcAuthorizationCode.forward_tokens": "header names",
  "gantry.extauth.v1.RedisSessionStore.key_prefix": "a Redis key prefix",
  "gantry.extauth.v1.CookieSessionStore.encryption_key_file": "a path",
  "gantry.extauth.v1.TokenHeaders.id_token_header": "a header name",
  "gantry.extauth.v1.TokenHeaders.access_token_header": "a header name",
  "gantry.extauth.v1.AccessTokenValidation.required_scopes": "scope names",
  "gantry.extauth.v1.JwtAuthnResult.required_scopes": "scope names",
  "gantry.v1.CORSPolicySpec.allow_credentials": "a switch",
  "gantry.extauth.v1.OAuth2.access_token_validation": "settings holding TokenIntrospection.client_secret (listed)",
};

const looksSecret = /secret|passw|private|key|token|hash|credential|cipher|users|salt|pem/i;

function reachableMessages(): DescMessage[] {
  const seen = new Map<string, DescMessage>();
  const visit = (message: DescMessage) => {
    if (seen.has(message.typeName) || message.typeName.startsWith("google.protobuf.")) return;
    seen.set(message.typeName, message);
    for (const field of message.fields) if (field.message) visit(field.message);
  };
  for (const schema of Object.values(specSchemas)) visit(schema);
  return [...seen.values()];
}

describe("the list of secret fields", () => {
  it("names every field of every kind whose name looks secret, or that field is declared harmless", () => {
    const listed = new Set(secretFields.map((s) => `${s.message}.${s.field}`));
    const unclassified: string[] = [];
    // Envoy's own messages inside our kinds (rate-limit actions) hold descriptor keys, no secrets.
    for (const message of reachableMessages().filter((m) => m.typeName.startsWith("gantry."))) {
      for (const field of message.fields) {
        const name = `${message.typeName}.${field.name}`;
        if (looksSecret.test(field.name) && !listed.has(name) && notSecret[name] === undefined) unclassified.push(name);
      }
    }
    expect(unclassified, "add these to secretFields (src/resources/secrets.ts) or to notSecret here").toEqual([]);
  });

  it("lists only fields that exist in a kind's schema", () => {
    const messages = new Map(reachableMessages().map((m) => [m.typeName, m]));
    for (const name of Object.keys(notSecret)) {
      const [message, field] = [name.slice(0, name.lastIndexOf(".")), name.slice(name.lastIndexOf(".") + 1)];
      expect(
        messages.get(message)?.fields.some((f) => f.name === field),
        name,
      ).toBe(true);
    }
    for (const secret of secretFields) {
      const field = messages.get(secret.message)?.fields.find((f) => f.name === secret.field);
      expect(field, `${secret.message}.${secret.field}`).toBeDefined();
      if (secret.only !== undefined) expect(field?.message?.fields.some((f) => f.name === secret.only)).toBe(true);
    }
  });
});

const pem =
  "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
const short = (value: string) => createHash("sha256").update(value).digest("hex").slice(0, 8);

describe("redaction", () => {
  it("replaces a Secret's private key with a short hash and keeps the certificate", () => {
    const document = {
      apiVersion: "gantry/v1",
      kind: "Secret",
      metadata: { name: "tls", namespace: "default" },
      spec: { tls: { certificateChain: { inline: "-----BEGIN CERTIFICATE-----" }, privateKey: { inline: pem } } },
    };
    const redacted = redactDocument(document);
    expect(redacted).toEqual({
      ...document,
      spec: {
        tls: {
          certificateChain: { inline: "-----BEGIN CERTIFICATE-----" },
          privateKey: { inline: `<redacted, sha256:${short(pem)}>` },
        },
      },
    });
    expect(JSON.stringify(redacted)).not.toContain("MIIEvQ");
    // A key kept in a file shows its path: a path is not a secret.
    const fromFile = { ...document, spec: { tls: { privateKey: { file: "/etc/tls/key.pem" } } } };
    expect(redactDocument(fromFile)).toEqual(fromFile);
  });

  it("redacts every secret-bearing AuthConfig field, at any depth, and nothing else", () => {
    const spec = {
      configs: [
        { name: "basic", basicAuth: { realm: "shop", users: { alice: "$apr1$salt$hash", bob: "{SHA}abc=" } } },
        { hmacAuth: { sharedSecrets: { k1: "0123456789abcdef0123" }, clockSkew: "30s" } },
        {
          oauth2: {
            accessTokenValidation: {
              introspection: { url: "https://idp/introspect", clientId: "c", clientSecret: "intro-secret" },
            },
          },
        },
        {
          oauth2: {
            oidcAuthorizationCode: {
              issuerUrl: "https://idp",
              clientId: "app",
              privateKeyJwt: { privateKey: pem, keyId: "k1" },
              session: { cookie: { encryptionKey: "c2VjcmV0LWtleQ==" } },
            },
          },
        },
        { oauth2: { oidcAuthorizationCode: { clientSecret: { secret: "oidc-secret", inBody: true } } } },
      ],
    };
    const redacted = redactDocument({ apiVersion: "gantry/v1", kind: "AuthConfig", metadata: { name: "a" }, spec });
    const text = JSON.stringify(redacted);
    for (const secret of [
      "$apr1$salt$hash",
      "{SHA}abc=",
      "0123456789abcdef0123",
      "intro-secret",
      "MIIEvQ",
      "c2VjcmV0",
      "oidc-secret",
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain(`"alice":"${redactedValue("$apr1$salt$hash")}"`);
    expect(text).toContain(`"clientSecret":"${redactedValue("intro-secret")}"`);
    for (const kept of ['"realm":"shop"', '"clockSkew":"30s"', '"keyId":"k1"', '"inBody":true', '"clientId":"app"']) {
      expect(text).toContain(kept);
    }
  });
});

describe("errors never quote secret material", () => {
  const secretDoc = (tls: unknown) => ({
    apiVersion: "gantry/v1",
    kind: "Secret",
    metadata: { name: "s" },
    spec: { tls },
  });
  const errorsOf = (value: unknown) => {
    const result = parseDocument(value, "document 1");
    if (!("errors" in result)) throw new Error("accepted");
    return result.errors.join("\n");
  };

  it("a malformed private key is named by its field, not shown", () => {
    const asString = errorsOf(secretDoc({ certificateChain: { inline: "c" }, privateKey: pem }));
    expect(asString).toContain("spec.tls.privateKey: expected a mapping (DataSource), got a string");
    expect(asString).not.toContain("MIIEvQ");
    const asNumber = errorsOf(secretDoc({ certificateChain: { inline: "c" }, privateKey: { inline: 987654321 } }));
    expect(asNumber).toContain("spec.tls.privateKey.inline: expected a string, got a number");
    expect(asNumber).not.toContain("987654321");
    const hmac = errorsOf({
      apiVersion: "gantry/v1",
      kind: "AuthConfig",
      metadata: { name: "a" },
      spec: { configs: [{ hmacAuth: { sharedSecrets: { k1: 123456789012345 } } }] },
    });
    expect(hmac).toContain("spec.configs[0].hmacAuth.sharedSecrets.k1");
    expect(hmac).not.toContain("123456789012345");
  });

  it("other fields still show the value that was wrong", () => {
    const errors = errorsOf(secretDoc({ certificateChain: { inline: 42 } }));
    expect(errors).toContain("got number 42");
  });

  it("refuses a redacted placeholder applied back as if it were the secret", () => {
    const errors = errorsOf(
      secretDoc({ certificateChain: { inline: "c" }, privateKey: { inline: redactedValue(pem) } }),
    );
    expect(errors).toContain("spec.tls.privateKey.inline: holds a redacted placeholder");
  });
});
