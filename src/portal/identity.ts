// Who is calling the portal: the portal asks the ext-auth server, as Envoy's ext_authz filter
// would, so developers sign in through Gantry's own OIDC login (docs/portal.md, Sign-in).
import type { IncomingMessage } from "node:http";
import { Authorization } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient } from "../lib/index.js";

/** A signed-in developer, as the OIDC step's claims headers describe them. */
export interface Developer {
  /** The `sub` claim: the owner of apps and keys. */
  id: string;
  email: string;
  groups: string[];
}

/** The HTTP answer ext-auth gave instead of letting the request through (a login redirect, the callback's cookies). */
export interface AuthAnswer {
  status: number;
  headers: [string, string][];
  body: string;
}

export type Verdict =
  | { type: "developer"; developer: Developer }
  | { type: "anonymous" }
  | { type: "answer"; answer: AuthAnswer };

/** The upstream headers the portal's auth config sets from the ID token's claims. */
export interface IdentityHeaders {
  user: string;
  email: string;
  groups: string;
}

export const defaultIdentityHeaders: IdentityHeaders = {
  user: "x-portal-user",
  email: "x-portal-email",
  groups: "x-portal-groups",
};

export interface IdentityOptions {
  /** host:port of `gantry extauth`. */
  extAuthAddress: string;
  /** The auth config (its OIDC login step) the portal's requests are checked with. */
  configId: string;
  /** The session cookie's name (the OIDC step's `cookieOptions.name`): without it, a request is anonymous. */
  sessionCookie: string;
  headers: IdentityHeaders;
  /** Bound on one check. */
  timeoutMs: number;
}

/** The claims header's groups: a JSON list (how ext-auth forwards a list claim) or a comma-separated one. */
export function parseGroups(value: string | undefined): string[] {
  if (value === undefined || value === "") return [];
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed)) return parsed.filter((g): g is string => typeof g === "string");
    if (typeof parsed === "string") return [parsed];
  } catch {
    // Not JSON: a plain list.
  }
  return value
    .split(",")
    .map((g) => g.trim())
    .filter((g) => g !== "");
}

function hasCookie(header: string | undefined, name: string): boolean {
  return (header ?? "").split(";").some((pair) => pair.trim().startsWith(`${name}=`));
}

/** Checks portal requests at the ext-auth server. */
export class IdentityGate {
  readonly #client: ReturnType<typeof createClient<(typeof Authorization)["method"]>>;

  constructor(private readonly options: IdentityOptions) {
    this.#client = createClient(Authorization, options.extAuthAddress);
  }

  close(): void {
    this.#client.close();
  }

  /**
   * `login`: the request must end signed in (ext-auth's redirect to the provider is the answer);
   * otherwise a request without a session is anonymous, and so is one whose session ended.
   */
  async check(req: IncomingMessage, mode: "login" | "optional"): Promise<Verdict> {
    if (mode === "optional" && !hasCookie(req.headers.cookie, this.options.sessionCookie)) return { type: "anonymous" };
    const url = new URL(req.url ?? "/", "http://portal");
    const host = req.headers.host ?? "";
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      // Only ext-auth's answer may say who the caller is: a caller's own identity headers are dropped.
      if (Object.values(this.options.headers).includes(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    const path = url.pathname + url.search;
    const response = await this.#client.check(
      {
        attributes: {
          contextExtensions: { config_id: this.options.configId },
          request: {
            http: {
              method: req.method ?? "GET",
              path,
              host,
              scheme: "encrypted" in req.socket ? "https" : "http",
              headers: { ...headers, ":authority": host, ":path": path, ":method": req.method ?? "GET" },
            },
          },
        },
      },
      { timeoutMs: this.options.timeoutMs },
    );
    if (response.httpResponse.case === "okResponse") {
      const upstream = new Map<string, string>();
      for (const option of response.httpResponse.value.headers) {
        if (option.header) upstream.set(option.header.key.toLowerCase(), option.header.value);
      }
      const id = upstream.get(this.options.headers.user);
      if (!id) return { type: "anonymous" };
      return {
        type: "developer",
        developer: {
          id,
          email: upstream.get(this.options.headers.email) ?? "",
          groups: parseGroups(upstream.get(this.options.headers.groups)),
        },
      };
    }
    const denied = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value : undefined;
    const status = denied?.status?.code ?? 403;
    // An API call whose session ended is anonymous; only sign-in, callback and logout follow redirects.
    if (mode === "optional" && (status === 302 || status === 401)) return { type: "anonymous" };
    return {
      type: "answer",
      answer: {
        status,
        headers: (denied?.headers ?? []).flatMap((o) =>
          o.header ? [[o.header.key, o.header.value] as [string, string]] : [],
        ),
        body: denied?.body ?? "",
      },
    };
  }
}
