import { createHash, timingSafeEqual } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";

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

/**
 * What a caller may do: `api` every call, with secret material redacted; `secrets` the same, and
 * it may ask to see secret material.
 */
export type ApiPrincipal = "api" | "secrets";

/** Who made a call, as found from its headers; the service reads it to decide on secrets. */
export const principalKey = createContextKey<ApiPrincipal>("api", { description: "the caller's principal" });

export interface ApiTokens {
  /** The bearer token every call must present; `undefined` only with `insecure`. */
  token: string | undefined;
  /** A second token that may also ask to see secrets; without it, nobody may. */
  secretsToken?: string | undefined;
  /** No token needed for ordinary calls (local development). */
  insecure?: boolean;
}

/** Checks the tokens before a port opens; messages name the option and never show a token. */
export function checkApiTokens(tokens: ApiTokens): void {
  if (tokens.token !== undefined) checkApiToken(tokens.token);
  else if (!tokens.insecure) {
    throw new Error("the management API needs a token (--api-token-file or GANTRY_API_TOKEN), or --insecure-api");
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
}

// Tokens are compared as SHA-256 digests: equal lengths, so neither a token's length nor where a
// guess first differs shows in the time taken.
const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** The bearer tokens of the management API, checked from the request headers alone. */
export class ApiAuth {
  readonly #token: Buffer | undefined;
  readonly #secretsToken: Buffer | undefined;
  readonly #insecure: boolean;

  constructor(tokens: ApiTokens) {
    checkApiTokens(tokens);
    this.#token = tokens.token === undefined ? undefined : digest(tokens.token);
    this.#secretsToken = tokens.secretsToken === undefined ? undefined : digest(tokens.secretsToken);
    this.#insecure = tokens.insecure === true && tokens.token === undefined;
  }

  /** Whether the server was started with a secrets token at all. */
  get revealsSecrets(): boolean {
    return this.#secretsToken !== undefined;
  }

  /**
   * Who presents this `authorization` header, or `undefined` when it is missing or wrong (the
   * caller is refused). Without a token (--insecure-api) everyone is `api`.
   */
  identify(authorization: string | undefined): ApiPrincipal | undefined {
    const header = authorization ?? "";
    const presented = digest(header.startsWith("Bearer ") ? header.slice(7).trim() : "");
    // Both comparisons always run, so timing does not tell which token a guess is closer to.
    const isSecrets = this.#secretsToken !== undefined && timingSafeEqual(presented, this.#secretsToken);
    const isApi = this.#token !== undefined && timingSafeEqual(presented, this.#token);
    if (isSecrets) return "secrets";
    if (isApi || this.#insecure) return "api";
    return undefined;
  }
}
