import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { type Duration, durationMs } from "@bufbuild/protobuf/wkt";
import { type CryptoKey, importPKCS8 } from "jose";
import type { OidcAuthorizationCode } from "../../../gen/gantry/extauth/v1/oidc_pb.js";
import { AuthConfigError } from "../../evaluator.js";

export type SameSite = "Lax" | "Strict" | "None";

export interface CookieOptions {
  name: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite: SameSite;
  domain: string | undefined;
  path: string;
}

export type ClientAuthentication =
  | { kind: "secret"; secret: string; inBody: boolean }
  | { kind: "privateKeyJwt"; key: CryptoKey; keyId: string | undefined; algorithm: string };

export type SessionStorage = { kind: "redis"; keyPrefix: string } | { kind: "cookie"; key: Uint8Array };

export interface ClaimHeader {
  claim: string;
  header: string;
  append: boolean;
}

/** The validated, defaulted settings of one OIDC login step. */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientAuthentication: ClientAuthentication;
  /** The app's origin, e.g. https://app.example.com; return URLs are built on it. */
  appOrigin: string;
  callbackPath: string;
  redirectUri: string;
  logoutPath: string | undefined;
  afterLogoutUrl: string;
  scopes: string[];
  authParams: Array<[string, string]>;
  tokenParams: Array<[string, string]>;
  discoveryRefreshMs: number;
  providerTimeoutMs: number;
  clockSkewMs: number;
  loginTimeoutMs: number;
  refreshBufferMs: number;
  sessionMaxAgeMs: number;
  storage: SessionStorage;
  cookie: CookieOptions;
  idTokenHeader: string | undefined;
  accessTokenHeader: string | undefined;
  bearer: boolean;
  claimsToHeaders: ClaimHeader[];
  metadataFromClaims: Array<[string, string]>;
  allowCorsPreflight: boolean;
}

/** Parameters the flow sets itself; configuring them would break PKCE, state or client authentication. */
const reservedAuthParams = new Set([
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method",
]);
const reservedTokenParams = new Set([
  "grant_type",
  "code",
  "redirect_uri",
  "code_verifier",
  "refresh_token",
  "client_id",
  "client_secret",
  "client_assertion",
  "client_assertion_type",
]);
const signingAlgorithms = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
]);
const headerName = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const cookieName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const day = 24 * 60 * 60 * 1_000;

function duration(value: Duration | undefined, defaultMs: number, field: string): number {
  if (value === undefined) return defaultMs;
  const ms = durationMs(value);
  if (!(ms > 0)) throw new AuthConfigError(field, "must be a positive duration");
  return ms;
}

function httpUrl(value: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AuthConfigError(field, `"${value}" is not an absolute URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new AuthConfigError(field, `"${value}" must be an http or https URL`);
  }
  return url;
}

function absolutePath(value: string, defaultPath: string | undefined, field: string): string | undefined {
  const path = value === "" ? defaultPath : value;
  if (path !== undefined && (!path.startsWith("/") || path.startsWith("//") || /[?#\s]/.test(path))) {
    throw new AuthConfigError(field, `"${path}" must be an absolute path without query, e.g. /oidc/callback`);
  }
  return path;
}

/** A secret given inline or as a file (exactly one of the two). */
function secretText(inline: string, file: string, baseDir: string, field: string, fileField: string): string {
  if (inline !== "" && file !== "") throw new AuthConfigError(field, `set either it or ${fileField}, not both`);
  if (inline !== "") return inline;
  if (file === "") throw new AuthConfigError(field, `is required (inline or as ${fileField})`);
  const path = isAbsolute(file) ? file : resolve(baseDir, file);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const why = err instanceof Error && "code" in err ? String(err.code) : "unreadable";
    throw new AuthConfigError(fileField, `cannot read ${path} (${why})`);
  }
  const trimmed = text.trim();
  if (trimmed === "") throw new AuthConfigError(fileField, `${path} is empty`);
  return trimmed;
}

function params(map: { [key: string]: string }, reserved: Set<string>, field: string): Array<[string, string]> {
  return Object.entries(map)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => {
      if (reserved.has(key)) throw new AuthConfigError(`${field}.${key}`, "is set by the login flow itself");
      return [key, value];
    });
}

async function clientAuthentication(
  settings: OidcAuthorizationCode,
  baseDir: string,
  field: string,
): Promise<ClientAuthentication> {
  const auth = settings.clientAuthentication;
  switch (auth.case) {
    case "clientSecret": {
      const f = `${field}.clientSecret`;
      const secret = secretText(auth.value.secret, auth.value.secretFile, baseDir, `${f}.secret`, `${f}.secretFile`);
      return { kind: "secret", secret, inBody: auth.value.inBody };
    }
    case "privateKeyJwt": {
      const f = `${field}.privateKeyJwt`;
      const algorithm = auth.value.algorithm === "" ? "RS256" : auth.value.algorithm;
      if (!signingAlgorithms.has(algorithm)) {
        throw new AuthConfigError(
          `${f}.algorithm`,
          `"${algorithm}" is not one of ${[...signingAlgorithms].join(", ")}`,
        );
      }
      const pem = secretText(
        auth.value.privateKey,
        auth.value.privateKeyFile,
        baseDir,
        `${f}.privateKey`,
        `${f}.privateKeyFile`,
      );
      let key: CryptoKey;
      try {
        key = await importPKCS8(pem, algorithm);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new AuthConfigError(`${f}.privateKey`, `is not a PKCS#8 PEM key usable with ${algorithm} (${why})`);
      }
      return { kind: "privateKeyJwt", key, keyId: auth.value.keyId === "" ? undefined : auth.value.keyId, algorithm };
    }
    default:
      throw new AuthConfigError(
        `${field}.clientSecret`,
        "a client authentication is required: clientSecret or privateKeyJwt",
      );
  }
}

function sessionStorage(settings: OidcAuthorizationCode, baseDir: string, field: string): SessionStorage {
  const store = settings.session?.store;
  switch (store?.case) {
    case "redis":
      return { kind: "redis", keyPrefix: store.value.keyPrefix === "" ? "oidc:" : store.value.keyPrefix };
    case "cookie": {
      const f = `${field}.session.cookie`;
      const text = secretText(
        store.value.encryptionKey,
        store.value.encryptionKeyFile,
        baseDir,
        `${f}.encryptionKey`,
        `${f}.encryptionKeyFile`,
      );
      const key = Buffer.from(text, "base64");
      if (key.byteLength !== 32 || key.toString("base64").replace(/=+$/, "") !== text.replace(/=+$/, "")) {
        throw new AuthConfigError(`${f}.encryptionKey`, "must be 32 random bytes, base64-encoded");
      }
      return { kind: "cookie", key };
    }
    default:
      throw new AuthConfigError(`${field}.session`, "a session store is required: redis or cookie");
  }
}

function cookieOptions(settings: OidcAuthorizationCode, field: string): CookieOptions {
  const options = settings.session?.cookieOptions;
  const f = `${field}.session.cookieOptions`;
  const name = options?.name || "__session";
  if (!cookieName.test(name)) throw new AuthConfigError(`${f}.name`, `"${name}" is not a valid cookie name`);
  const sameSiteText = (options?.sameSite || "lax").toLowerCase();
  const sameSites: Record<string, SameSite> = { lax: "Lax", strict: "Strict", none: "None" };
  const sameSite = sameSites[sameSiteText];
  if (sameSite === undefined)
    throw new AuthConfigError(`${f}.sameSite`, `"${options?.sameSite}" is not lax, strict or none`);
  const secure = options?.secure ?? true;
  if (sameSite === "None" && !secure) throw new AuthConfigError(`${f}.sameSite`, "none requires secure cookies");
  const path = absolutePath(options?.path ?? "", "/", `${f}.path`) ?? "/";
  const domain = options?.domain || undefined;
  if (domain !== undefined && !/^\.?[a-z0-9.-]+$/i.test(domain)) {
    throw new AuthConfigError(`${f}.domain`, `"${domain}" is not a domain name`);
  }
  return { name, secure, httpOnly: options?.httpOnly ?? true, sameSite, domain, path };
}

function lowerHeader(name: string, field: string): string | undefined {
  if (name === "") return undefined;
  const lower = name.toLowerCase();
  if (!headerName.test(lower)) throw new AuthConfigError(field, `"${name}" is not a valid header name`);
  return lower;
}

/** Validates and defaults the settings; every problem names its field under `field`. */
export async function parseOidcSettings(
  settings: OidcAuthorizationCode,
  baseDir: string,
  field: string,
): Promise<OidcSettings> {
  if (settings.issuerUrl === "") throw new AuthConfigError(`${field}.issuerUrl`, "is required");
  httpUrl(settings.issuerUrl, `${field}.issuerUrl`);
  if (settings.clientId === "") throw new AuthConfigError(`${field}.clientId`, "is required");
  if (settings.appUrl === "") throw new AuthConfigError(`${field}.appUrl`, "is required");
  const appUrl = httpUrl(settings.appUrl, `${field}.appUrl`);
  const callbackPath =
    absolutePath(settings.callbackPath, "/oidc/callback", `${field}.callbackPath`) ?? "/oidc/callback";
  const logoutPath = absolutePath(settings.logoutPath, undefined, `${field}.logoutPath`);
  if (logoutPath === callbackPath) throw new AuthConfigError(`${field}.logoutPath`, "must differ from callbackPath");
  const afterLogoutUrl =
    settings.afterLogoutUrl === "" ? appUrl.href : httpUrl(settings.afterLogoutUrl, `${field}.afterLogoutUrl`).href;
  const scopes = ["openid", ...settings.scopes.filter((scope) => scope !== "openid")];
  settings.scopes.forEach((scope, index) => {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) {
      throw new AuthConfigError(`${field}.scopes[${index}]`, `"${scope}" is not a valid scope`);
    }
  });
  const tokens = settings.forwardTokens;
  return {
    issuer: settings.issuerUrl,
    clientId: settings.clientId,
    clientAuthentication: await clientAuthentication(settings, baseDir, field),
    appOrigin: appUrl.origin,
    callbackPath,
    redirectUri: appUrl.origin + callbackPath,
    logoutPath,
    afterLogoutUrl,
    scopes,
    authParams: params(settings.authEndpointQueryParams, reservedAuthParams, `${field}.authEndpointQueryParams`),
    tokenParams: params(settings.tokenEndpointQueryParams, reservedTokenParams, `${field}.tokenEndpointQueryParams`),
    discoveryRefreshMs: duration(settings.discoveryRefreshInterval, 15 * 60_000, `${field}.discoveryRefreshInterval`),
    providerTimeoutMs: duration(settings.providerTimeout, 5_000, `${field}.providerTimeout`),
    clockSkewMs: duration(settings.clockSkew, 30_000, `${field}.clockSkew`),
    loginTimeoutMs: duration(settings.loginTimeout, 10 * 60_000, `${field}.loginTimeout`),
    refreshBufferMs: duration(settings.session?.refreshBuffer, 30_000, `${field}.session.refreshBuffer`),
    sessionMaxAgeMs: duration(
      settings.session?.cookieOptions?.maxAge,
      30 * day,
      `${field}.session.cookieOptions.maxAge`,
    ),
    storage: sessionStorage(settings, baseDir, field),
    cookie: cookieOptions(settings, field),
    idTokenHeader: lowerHeader(tokens?.idTokenHeader ?? "", `${field}.forwardTokens.idTokenHeader`),
    accessTokenHeader: lowerHeader(tokens?.accessTokenHeader ?? "", `${field}.forwardTokens.accessTokenHeader`),
    bearer: tokens?.bearer ?? false,
    claimsToHeaders: settings.claimsToHeaders.map((mapping, index) => {
      const f = `${field}.claimsToHeaders[${index}]`;
      if (mapping.claim === "") throw new AuthConfigError(`${f}.claim`, "is required");
      const header = lowerHeader(mapping.header, `${f}.header`);
      if (header === undefined) throw new AuthConfigError(`${f}.header`, "is required");
      return { claim: mapping.claim, header, append: mapping.append };
    }),
    metadataFromClaims: Object.entries(settings.dynamicMetadataFromClaims).map(([key, claim]) => {
      if (claim === "") throw new AuthConfigError(`${field}.dynamicMetadataFromClaims.${key}`, "needs a claim name");
      return [key, claim];
    }),
    allowCorsPreflight: settings.allowCorsPreflight,
  };
}
