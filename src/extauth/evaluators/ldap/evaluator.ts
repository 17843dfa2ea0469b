import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { type Client, FilterParser, InvalidCredentialsError } from "ldapts";
import type { LdapAuth } from "../../../gen/gantry/extauth/v1/ldap_pb.js";
import type { Timers } from "../../../lib/clock.js";
import type { Logger } from "../../../lib/logger.js";
import {
  AuthConfigError,
  type CheckContext,
  type Evaluator,
  type EvaluatorFactory,
  type Verdict,
} from "../../evaluator.js";
import { LazyLruCache } from "../lazy-cache.js";
import { basicCredentials } from "./credentials.js";
import { normalizeDn, userDn } from "./dn.js";
import { ConnectionPool } from "./pool.js";

const defaults = {
  membershipAttributeName: "memberOf",
  searchFilter: "(objectClass=*)",
  timeoutMs: 1_000,
  cacheTtlSeconds: 5,
  poolMaxSize: 5,
  poolInitialSize: 2,
};

/** Outcomes kept per credentials; enough for a busy gateway's active users. */
const cacheEntries = 10_000;

/** The identity an allowing LDAP step leaves in the check's state, under `ldap`, for later steps. */
export interface LdapIdentity {
  username: string;
  dn: string;
  groups: string[];
}

interface Settings {
  userDnTemplate: string;
  membershipAttribute: string;
  allowedGroups: Set<string>;
  searchFilter: string;
  timeoutMs: number;
  cacheTtlMs: number;
  serviceAccount: { dn: string; password: string } | undefined;
}

const challenge = [{ name: "www-authenticate", value: 'Basic realm="ldap"' }];

/** The ldap factory: validates the settings, reads the service account's password, opens the pool. */
export const ldapAuthFactory: EvaluatorFactory<"ldap"> = async (settings, deps, field) => {
  const parsed = await parseSettings(settings, deps.baseDir, field);
  const pool = new ConnectionPool({
    url: settings.address,
    maxSize: settings.pool?.maxSize || defaults.poolMaxSize,
    initialSize: settings.pool?.initialSize || defaults.poolInitialSize,
    timeoutMs: parsed.timeoutMs,
    clock: deps.clock,
  });
  return new LdapEvaluator(parsed, pool, deps.clock, deps.logger);
};

async function parseSettings(settings: LdapAuth, baseDir: string, field: string): Promise<Settings> {
  if (!/^ldaps?:\/\/[^/]+\/?$/.test(settings.address)) {
    throw new AuthConfigError(`${field}.address`, `"${settings.address}" is not ldap://host:port or ldaps://host:port`);
  }
  if (settings.userDnTemplate.split("%s").length !== 2) {
    throw new AuthConfigError(`${field}.userDnTemplate`, "must contain exactly one %s where the user name goes");
  }
  const searchFilter = settings.searchFilter || defaults.searchFilter;
  try {
    FilterParser.parseString(searchFilter);
  } catch (err) {
    throw new AuthConfigError(`${field}.searchFilter`, `not an LDAP filter: ${(err as Error).message}`);
  }
  for (const [index, group] of settings.allowedGroups.entries()) {
    if (!group.includes("=")) throw new AuthConfigError(`${field}.allowedGroups[${index}]`, `"${group}" is not a DN`);
  }
  const pool = settings.pool;
  if (pool && pool.initialSize > (pool.maxSize || defaults.poolMaxSize)) {
    throw new AuthConfigError(`${field}.pool.initialSize`, "must not exceed maxSize");
  }
  return {
    userDnTemplate: settings.userDnTemplate,
    membershipAttribute: settings.membershipAttributeName || defaults.membershipAttributeName,
    allowedGroups: new Set(settings.allowedGroups.map(normalizeDn)),
    searchFilter,
    timeoutMs: settings.timeoutMs || defaults.timeoutMs,
    cacheTtlMs: (settings.cacheTtlSeconds || defaults.cacheTtlSeconds) * 1_000,
    serviceAccount: await serviceAccount(settings, baseDir, `${field}.groupLookupServiceAccount`),
  };
}

async function serviceAccount(
  settings: LdapAuth,
  baseDir: string,
  field: string,
): Promise<{ dn: string; password: string } | undefined> {
  const account = settings.groupLookupServiceAccount;
  if (!account) return undefined;
  if (!account.bindDn.includes("=")) throw new AuthConfigError(`${field}.bindDn`, "must be a DN");
  if (account.passwordFile === "") throw new AuthConfigError(`${field}.passwordFile`, "is required");
  const path = resolve(baseDir, account.passwordFile);
  let password: string;
  try {
    password = (await readFile(path, "utf8")).replace(/\r?\n$/, "");
  } catch (err) {
    throw new AuthConfigError(`${field}.passwordFile`, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
  if (password === "") throw new AuthConfigError(`${field}.passwordFile`, `${path} is empty`);
  return { dn: account.bindDn, password };
}

interface Outcome {
  verdict: Verdict;
  identity?: LdapIdentity;
}

class LdapEvaluator implements Evaluator {
  readonly #cache = new LazyLruCache<string, Outcome & { expiresAt: number }>(cacheEntries);
  /** Checks under way by credentials: a burst of requests with the same credentials binds once. */
  readonly #inFlight = new Map<string, Promise<Outcome>>();

  constructor(
    private readonly settings: Settings,
    private readonly pool: ConnectionPool,
    private readonly clock: Timers,
    private readonly logger: Logger,
  ) {}

  async evaluate(context: CheckContext): Promise<Verdict> {
    const credentials = basicCredentials(context.headers);
    // An empty password would be an unauthenticated bind, which LDAP servers accept: never let it through.
    if (!credentials || credentials.username === "" || credentials.password === "") {
      return { kind: "deny", status: 401, reason: "no Basic credentials", headers: challenge };
    }
    const key = createHash("sha256")
      .update(credentials.username)
      .update("\0")
      .update(credentials.password)
      .digest("hex");
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > this.clock.now()) return this.#answer(cached, context);
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#checkAndCache(key, credentials.username, credentials.password);
      this.#inFlight.set(key, pending);
    }
    try {
      return this.#answer(await cancellable(pending, context.signal), context);
    } catch (err) {
      return { kind: "error", reason: `LDAP: ${(err as Error).message}` };
    }
  }

  #answer(outcome: Outcome, context: CheckContext): Verdict {
    if (outcome.identity) context.state.set("ldap", outcome.identity);
    return outcome.verdict;
  }

  async #checkAndCache(key: string, username: string, password: string): Promise<Outcome> {
    try {
      const outcome = await this.#check(username, password);
      if (outcome.verdict.kind !== "error") {
        this.#cache.set(key, { ...outcome, expiresAt: this.clock.now() + this.settings.cacheTtlMs });
      }
      return outcome;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /** One bind and search, bounded by the operation timeout whoever waits for it. */
  async #check(username: string, password: string): Promise<Outcome> {
    let client: Client;
    try {
      client = await this.pool.acquire();
    } catch (err) {
      return { verdict: { kind: "error", reason: `LDAP: ${(err as Error).message}` } };
    }
    let healthy = false;
    try {
      const outcome = await this.#bounded(this.#bindAndSearch(client, username, password));
      healthy = true;
      return outcome;
    } catch (err) {
      if (err instanceof InvalidCredentialsError) {
        healthy = true;
        return { verdict: { kind: "deny", status: 401, reason: "invalid LDAP credentials", headers: challenge } };
      }
      this.logger.warn({ err: (err as Error).message, username }, "LDAP check failed");
      return { verdict: { kind: "error", reason: `LDAP: ${(err as Error).message}` } };
    } finally {
      this.pool.release(client, healthy);
    }
  }

  async #bindAndSearch(
    client: Client,
    username: string,
    password: string,
  ): Promise<{ verdict: Verdict; identity?: LdapIdentity }> {
    const dn = userDn(this.settings.userDnTemplate, username);
    await client.bind(dn, password);
    const account = this.settings.serviceAccount;
    if (account) {
      try {
        await client.bind(account.dn, account.password);
      } catch (err) {
        // Not the user's fault: a broken service account is a backend failure.
        throw new Error(`the group lookup service account cannot bind: ${(err as Error).message}`);
      }
    }
    const attribute = this.settings.membershipAttribute;
    const { searchEntries } = await client.search(dn, {
      scope: "base",
      filter: this.settings.searchFilter,
      attributes: [attribute],
      sizeLimit: 1,
    });
    const entry = searchEntries[0];
    if (!entry) {
      return { verdict: { kind: "deny", status: 403, reason: "the user's entry does not match the search filter" } };
    }
    const groups = attributeValues(entry, attribute);
    const allowed = this.settings.allowedGroups;
    if (allowed.size > 0 && !groups.some((group) => allowed.has(normalizeDn(group)))) {
      return { verdict: { kind: "deny", status: 403, reason: "the user is in none of the allowed groups" } };
    }
    return { verdict: { kind: "allow" }, identity: { username, dn, groups } };
  }

  /** Bounds a whole check (bind, search) by the operation timeout. */
  #bounded<T>(pending: Promise<T>): Promise<T> {
    return new Promise<T>((resolvePromise, reject) => {
      const ms = this.settings.timeoutMs;
      const timer = this.clock.setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      pending.then(resolvePromise, reject).finally(() => timer.cancel());
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Stops waiting when the check is cancelled; the shared work goes on for the others waiting. */
function cancellable<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error("the check was cancelled"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error("the check was cancelled"));
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function attributeValues(entry: Record<string, unknown>, attribute: string): string[] {
  const wanted = attribute.toLowerCase();
  const key = Object.keys(entry).find((name) => name.toLowerCase() === wanted);
  const value = key === undefined ? undefined : entry[key];
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [value];
  return values.map((v) => (Buffer.isBuffer(v) ? v.toString("utf8") : String(v)));
}
