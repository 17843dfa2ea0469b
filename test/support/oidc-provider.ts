import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";

/** Client metadata as oidc-provider takes it (client_id, redirect_uris, token_endpoint_auth_method, …). */
export type ClientMetadata = Record<string, unknown>;

export interface OidcProviderOptions {
  clients: ClientMetadata[];
  /** Token lifetimes in seconds. Defaults: access 3600, ID 3600, refresh 86400. */
  ttl?: { accessToken?: number; idToken?: number; refreshToken?: number };
  /** The `groups` claim of each account (by login name); default ["staff"]. */
  groupsOf?: (accountId: string) => string[];
}

export interface OidcTestProvider {
  /** http://127.0.0.1:PORT, the issuer and the base of every endpoint. */
  readonly issuer: string;
  /** Revokes a token at the provider, as an administrator would (its grant goes with it). */
  revoke(token: string, client: { id: string; secret: string }): Promise<void>;
  close(): Promise<void>;
}

/** oidc-provider ships no type declarations; this is the part the tests use. */
interface ProviderInstance {
  callback(): (req: unknown, res: unknown) => void;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;

/**
 * Starts a real OpenID provider (the `oidc-provider` package) on a free loopback port: its own
 * dev login and consent pages (any login name is accepted as that user), refresh tokens for
 * clients allowed the refresh_token grant, RP-initiated logout and token revocation.
 */
export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcTestProvider> {
  // A computed specifier: the package has no declarations, so its types come from ProviderInstance.
  const moduleName = "oidc-provider";
  const { default: Provider } = (await import(moduleName)) as { default: ProviderClass };
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: "test-signing-key", use: "sig", alg: "RS256" };
  const ttl = options.ttl ?? {};
  const provider = new Provider(issuer, {
    clients: options.clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: ["a test cookie key that is long enough"] },
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({
        sub: id,
        email: `${id}@example.test`,
        email_verified: true,
        name: `User ${id}`,
        groups: options.groupsOf?.(id) ?? ["staff"],
      }),
    }),
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
    // Scope claims in the ID token itself, as most providers do, not only from userinfo.
    conformIdTokenClaims: false,
    scopes: ["openid", "offline_access", "email", "profile", "groups"],
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx: { body: string }, form: string) => {
          ctx.body = `<!DOCTYPE html><html><body>${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></body></html>`;
        },
      },
    },
    pkce: { required: () => true },
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(grant: string): boolean }) =>
      client.grantTypeAllowed("refresh_token"),
    // Rotating refresh tokens makes a replayed (old) refresh token an invalid_grant, as many providers do.
    rotateRefreshToken: () => true,
    ttl: {
      AccessToken: ttl.accessToken ?? 3_600,
      IdToken: ttl.idToken ?? 3_600,
      RefreshToken: ttl.refreshToken ?? 86_400,
      Interaction: 600,
      Session: 3_600,
      Grant: 86_400,
    },
  });
  server.on("request", provider.callback());
  return {
    issuer,
    revoke: async (token, client) => {
      const response = await fetch(`${issuer}/token/revocation`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`,
        },
        body: new URLSearchParams({ token }),
        signal: AbortSignal.timeout(5_000),
      });
      if (!response.ok) throw new Error(`revocation answered HTTP ${response.status}: ${await response.text()}`);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
