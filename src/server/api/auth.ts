import { createHash, timingSafeEqual } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";
import type { ApiCaller, TokenEntry } from "./roles.js";

export type { ApiCaller, Role, TokenEntry } from "./roles.js";

/** The shortest API token accepted: a shorter one is too easy to guess. */
export const minApiTokenLength = 16;

/** Throws when a token is too weak to guard the API; the message never shows the token. */
export function checkApiToken(token: string): void {
  if (token.length < minApiTokenLength) {
    throw new Error(
      `the API token must be at least ${minApiTokenLength} characters (it has ${token.length}); make one with: openssl rand -hex 24`,
    );
  }
}

/** Who made a call, as the gate found from its headers; the service reads it for roles and secrets. */
export const callerKey = createContextKey<ApiCaller>(
  { role: "viewer", secrets: false, name: "unknown" },
  { description: "the caller: role, secrets, name" },
);

/** Checks a bearer token that is not one of the static tokens: an OIDC ID token (see src/server/ui/oidc.ts). */
export interface IdTokenVerifier {
  /** Whether `token` has the shape this verifier reads (a JWT); others are refused without a call. */
  accepts(token: string): boolean;
  /** The caller it names, or why it is refused (the message never shows the token). */
  identify(token: string): Promise<Identification>;
}

/**
 * Who the caller is; or why the credential is refused (a failed authentication); or why it could
 * not be checked now (a backend the check needs does not answer: the caller is not at fault, so
 * it is answered UNAVAILABLE and spends none of the address's failed-authentication budget).
 */
export type Identification = { caller: ApiCaller } | { refused: string } | { unavailable: string };

export interface ApiTokens {
  /** The bearer token every call may present (role admin); `undefined` with `insecure` or other ways in. */
  token: string | undefined;
  /** A second token that may also ask to see secrets (role admin); without it, nobody may. */
  secretsToken?: string | undefined;
  /** More tokens, each with its role (`--api-tokens-file`). */
  tokens?: readonly TokenEntry[];
  /** ID tokens of the UI's OIDC sign-in. */
  oidc?: IdTokenVerifier;
  /** No token needed (local development): every caller is admin. */
  insecure?: boolean;
}

/** Checks the tokens before a port opens; messages name the option and never show a token. */
export function checkApiTokens(tokens: ApiTokens): void {
  if (tokens.token !== undefined) checkApiToken(tokens.token);
  else if (!tokens.insecure && !tokens.tokens?.length && !tokens.oidc && tokens.secretsToken === undefined) {
    throw new Error(
      "the management API needs a token (--api-token-file or GANTRY_API_TOKEN, or --api-tokens-file, or --ui-oidc-issuer), or --insecure-api",
    );
  }
  if (tokens.secretsToken !== undefined) {
    try {
      checkApiToken(tokens.secretsToken);
    } catch (err) {
      throw new Error(`the secrets token: ${(err as Error).message}`);
    }
    if (tokens.secretsToken === tokens.token) {
      throw new Error("the secrets token must differ from the API token: it is what allows showing secrets");
    }
  }
  for (const entry of tokens.tokens ?? []) {
    checkApiToken(entry.token);
    if (entry.token === tokens.token || entry.token === tokens.secretsToken) {
      throw new Error(
        `the tokens file's entry ${entry.name}: its token is the API token or the secrets token; give it its own`,
      );
    }
  }
}

// Tokens are compared as SHA-256 digests: equal lengths, so neither a token's length nor where a
// guess first differs shows in the time taken.
const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

const missing = "missing bearer token (set GANTRY_API_TOKEN or --api-token-file)";
const invalid = "invalid bearer token";

/** The bearer tokens of the management API, checked from the request headers alone. */
export class ApiAuth {
  readonly #static: Array<{ digest: Buffer; caller: ApiCaller }> = [];
  readonly #oidc: IdTokenVerifier | undefined;
  readonly #insecure: boolean;
  readonly #revealsSecrets: boolean;

  constructor(tokens: ApiTokens) {
    checkApiTokens(tokens);
    if (tokens.token !== undefined) {
      this.#static.push({ digest: digest(tokens.token), caller: { role: "admin", secrets: false, name: "api token" } });
    }
    if (tokens.secretsToken !== undefined) {
      this.#static.push({
        digest: digest(tokens.secretsToken),
        caller: { role: "admin", secrets: true, name: "secrets token" },
      });
    }
    for (const entry of tokens.tokens ?? []) {
      this.#static.push({
        digest: digest(entry.token),
        caller: { role: entry.role, secrets: false, name: entry.name },
      });
    }
    this.#oidc = tokens.oidc;
    this.#revealsSecrets = tokens.secretsToken !== undefined;
    this.#insecure = tokens.insecure === true && tokens.token === undefined;
  }

  /** Whether the server was started with a secrets token at all. */
  get revealsSecrets(): boolean {
    return this.#revealsSecrets;
  }

  /**
   * Who presents this `authorization` header, or why it is refused. Static tokens answer at once;
   * an ID token (when OIDC sign-in is configured) is verified asynchronously. Without any token
   * (--insecure-api) everyone is admin.
   */
  identify(authorization: string | undefined): Identification | Promise<Identification> {
    const header = authorization ?? "";
    const bearer = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    const presented = digest(bearer);
    // Every comparison runs, so timing does not tell which token a guess is closer to.
    let found: ApiCaller | undefined;
    for (const entry of this.#static) {
      if (timingSafeEqual(presented, entry.digest)) found = entry.caller;
    }
    if (found) return { caller: found };
    if (this.#insecure) return { caller: { role: "admin", secrets: false, name: "anyone (--insecure-api)" } };
    if (this.#oidc && bearer !== "" && this.#oidc.accepts(bearer)) return this.#oidc.identify(bearer);
    return { refused: authorization ? invalid : missing };
  }
}
