import { createHmac, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { BasicAuth } from "../../gen/gantry/extauth/v1/basic_pb.js";
import type { Clock } from "../../lib/index.js";
import { AuthConfigError, type CheckContext, type Evaluator, type EvaluatorDeps, type Verdict } from "../evaluator.js";
import { LazyLruCache } from "./lazy-cache.js";
import { type PasswordHash, parsePasswordHash, verifyPassword } from "./password-hash.js";

/** The user and password of `Authorization: Basic …`, or undefined when absent or malformed. */
export function basicCredentials(authorization: string | undefined): { user: string; password: string } | undefined {
  if (!authorization || authorization.length < 7 || authorization.slice(0, 6).toLowerCase() !== "basic ")
    return undefined;
  const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** How long a verified user:password pair skips the (deliberately slow) hash check. */
const verifiedTtlMs = 5 * 60_000;

class BasicAuthEvaluator implements Evaluator {
  readonly #users: ReadonlyMap<string, PasswordHash>;
  /** Checked against for unknown users, so that timing does not tell which user names exist. */
  readonly #decoy: PasswordHash;
  readonly #challenge: Verdict;
  readonly #clock: Clock;
  /** Recently verified credentials, keyed by a keyed digest (the password itself is never kept). */
  readonly #verified = new LazyLruCache<string, number>(10_000);
  readonly #digestKey = randomBytes(32);

  constructor(users: ReadonlyMap<string, PasswordHash>, realm: string, clock: Clock) {
    this.#users = users;
    this.#decoy = users.values().next().value as PasswordHash;
    this.#clock = clock;
    this.#challenge = {
      kind: "deny",
      status: 401,
      reason: "missing or invalid basic credentials",
      headers: [{ name: "www-authenticate", value: `Basic realm="${realm}"` }],
    };
  }

  evaluate(context: CheckContext): Verdict | Promise<Verdict> {
    const credentials = basicCredentials(context.headers["authorization"]);
    if (!credentials) return this.#challenge;
    const stored = this.#users.get(credentials.user);
    if (!stored) return verifyPassword(credentials.password, this.#decoy).then(() => this.#challenge);
    const digest = createHmac("sha256", this.#digestKey)
      .update(credentials.user)
      .update("\0")
      .update(credentials.password)
      .digest("base64");
    const allowed: Verdict = { kind: "allow", dynamicMetadata: { user: credentials.user } };
    const verifiedAt = this.#verified.get(digest);
    if (verifiedAt !== undefined && this.#clock.now() - verifiedAt < verifiedTtlMs) return allowed;
    return verifyPassword(credentials.password, stored).then((ok) => {
      if (!ok) return this.#challenge;
      this.#verified.set(digest, this.#clock.now());
      return allowed;
    });
  }
}

function parseHtpasswd(text: string, field: string, users: Map<string, PasswordHash>): void {
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const colon = trimmed.indexOf(":");
    if (colon <= 0) throw new AuthConfigError(field, `line ${index + 1}: expected user:hash`);
    const hash = parsePasswordHash(trimmed.slice(colon + 1));
    if (typeof hash === "string") throw new AuthConfigError(field, `line ${index + 1}: ${hash}`);
    users.set(trimmed.slice(0, colon), hash);
  });
}

export async function createBasicAuthEvaluator(
  settings: BasicAuth,
  deps: EvaluatorDeps,
  field: string,
): Promise<Evaluator> {
  const users = new Map<string, PasswordHash>();
  if (settings.htpasswdFile !== "") {
    const path = resolve(deps.baseDir, settings.htpasswdFile);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      throw new AuthConfigError(`${field}.htpasswdFile`, `cannot read ${path}: ${(err as Error).message}`);
    }
    parseHtpasswd(text, `${field}.htpasswdFile`, users);
  }
  for (const [user, text] of Object.entries(settings.users)) {
    if (user === "" || user.includes(":")) throw new AuthConfigError(`${field}.users`, `"${user}" is not a user name`);
    const hash = parsePasswordHash(text);
    if (typeof hash === "string") throw new AuthConfigError(`${field}.users.${user}`, hash);
    users.set(user, hash);
  }
  if (users.size === 0) throw new AuthConfigError(field, "no users (set users or htpasswdFile)");
  const realm = settings.realm || "gantry";
  if (/["\\\r\n]/.test(realm))
    throw new AuthConfigError(`${field}.realm`, "may not contain quotes, backslashes or line breaks");
  return new BasicAuthEvaluator(users, realm, deps.clock);
}
