// Who may call what on the management API: three roles, each allowed what the one before it is,
// and the decision for a call (pure; the gate and the service do the I/O).
import { parse as parseYaml } from "yaml";

export const roles = ["viewer", "editor", "admin"] as const;
export type Role = (typeof roles)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (roles as readonly string[]).includes(value);
}

/** Who made a call, as the gate found from its headers. */
export interface ApiCaller {
  role: Role;
  /** May ask to see secret material (`show_secrets`): only the secrets token. */
  secrets: boolean;
  /** For messages and logs: `api token`, the tokens file's entry name, or the OIDC subject. */
  name: string;
}

/**
 * The least role each call needs, by its method's local name. Reads are the viewer's; writes to
 * resources and silences the editor's; workload-cluster registration (it hands out credentials) the admin's.
 */
const requiredRoles: Record<string, Role> = {
  get: "viewer",
  list: "viewer",
  watch: "viewer",
  listProxies: "viewer",
  describeProxy: "viewer",
  resourceHistory: "viewer",
  dataPlaneRates: "viewer",
  describe: "viewer",
  listInsights: "viewer",
  listClusters: "viewer",
  getCluster: "viewer",
  overview: "viewer",
  graph: "viewer",
  graphRates: "viewer",
  apply: "editor",
  delete: "editor",
  silenceInsight: "editor",
  unsilenceInsight: "editor",
  addCluster: "admin",
  removeCluster: "admin",
};

/** The least role a method needs; a method this table does not know needs admin (fail closed). */
export function requiredRole(localName: string): Role {
  return requiredRoles[localName] ?? "admin";
}

export function allows(role: Role, needed: Role): boolean {
  return roles.indexOf(role) >= roles.indexOf(needed);
}

/** Why a caller may not make a call (`undefined`: it may). `methodName` as the API spells it (`Apply`). */
export function refusalOf(caller: ApiCaller, localName: string, methodName: string): string | undefined {
  const needed = requiredRole(localName);
  if (allows(caller.role, needed)) return undefined;
  return `role ${caller.role} may not call ${methodName}: it needs role ${needed} or above`;
}

/** One entry of `--api-tokens-file`. */
export interface TokenEntry {
  name: string;
  role: Role;
  token: string;
}

/**
 * Reads `--api-tokens-file`: YAML `tokens: [{ name, role, token }]`. Errors name the file and the
 * entry and never show a token.
 */
export function parseTokensFile(text: string, file: string, minLength: number): TokenEntry[] {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new Error(`${file}: not YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const list = (value as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error(`${file}: expected "tokens:" with a list of { name, role, token }`);
  }
  const names = new Set<string>();
  const tokens = new Set<string>();
  return list.map((entry: unknown, i) => {
    const where = `${file}: tokens[${i}]`;
    if (typeof entry !== "object" || entry === null) throw new Error(`${where}: expected { name, role, token }`);
    const { name, role, token, ...rest } = entry as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new Error(`${where}: unknown field ${unknown[0]} (known: name, role, token)`);
    if (typeof name !== "string" || name === "") throw new Error(`${where}.name: required`);
    if (names.has(name)) throw new Error(`${where}.name: "${name}" is listed twice`);
    if (!isRole(role)) throw new Error(`${where}.role: expected one of ${roles.join(", ")}`);
    if (typeof token !== "string") throw new Error(`${where}.token: required (a string)`);
    if (token.length < minLength) {
      throw new Error(`${where}.token: at least ${minLength} characters (it has ${token.length})`);
    }
    if (tokens.has(token)) throw new Error(`${where}.token: the same token as an earlier entry`);
    names.add(name);
    tokens.add(token);
    return { name, role, token };
  });
}

/**
 * `--ui-oidc-roles`: `group=role,group=role`. A user gets the highest role among their groups'.
 */
export function parseGroupRoles(text: string, flag = "--ui-oidc-roles"): Map<string, Role> {
  const map = new Map<string, Role>();
  for (const part of text.split(",")) {
    const item = part.trim();
    if (item === "") continue;
    const eq = item.lastIndexOf("=");
    const group = item.slice(0, eq).trim();
    const role = item.slice(eq + 1).trim();
    if (eq <= 0 || group === "") throw new Error(`${flag}: "${item}" is not group=role`);
    if (!isRole(role)) throw new Error(`${flag}: "${item}": the role must be one of ${roles.join(", ")}`);
    map.set(group, role);
  }
  if (map.size === 0) throw new Error(`${flag}: expected group=role pairs, e.g. ops=admin,dev=editor,staff=viewer`);
  return map;
}

/** The highest role the groups map to, or `undefined` when none maps. */
export function roleOfGroups(groups: readonly string[], groupRoles: ReadonlyMap<string, Role>): Role | undefined {
  let best: Role | undefined;
  for (const group of groups) {
    const role = groupRoles.get(group);
    if (role && (best === undefined || allows(role, best))) best = role;
  }
  return best;
}
