// AccessPolicies: checked, reduced to rules, and gathered per destination they apply to.
import { type AccessPolicySpec, AccessPolicySpec_Action } from "../../gen/gantry/v1/access_pb.js";
import {
  clusterNameRule,
  isClusterName,
  kindKey,
  matchesLabels,
  type ResourceOf,
  resourceKey,
} from "../../resources/index.js";
import type { ModelAccess, ModelAccessRule, StringPattern } from "../model.js";
import { State, type StatusCollector } from "../status.js";
import { headerName, type Index, nsName } from "./common.js";
import type { ResolvedDestinations } from "./destinations.js";

/** What the checked policies say, by destination `namespace/name`. */
export type AccessByDestination = Map<string, ModelAccess>;

const spiffePattern = /^spiffe:\/\/[a-z0-9.-]+\/[!-~]*$/;
const namePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const methodPattern = /^[A-Z]+$/;

interface CheckedPolicy {
  key: string;
  namespace: string;
  spec: AccessPolicySpec;
  rules: ModelAccessRule[];
}

/**
 * Each valid AccessPolicy applied to the valid destinations it selects (in its own namespace).
 * Statuses: a policy lists the destinations it applies to; one that would refuse every request to a
 * destination (an ALLOW policy without rules, a DENY rule matching anything, a default-deny namespace
 * that allows nothing) is warned about, naming the destination.
 */
export function normalizeAccess(
  index: Index,
  destinations: ResolvedDestinations,
  trustDomain: string,
  statuses: StatusCollector,
): AccessByDestination {
  const checked: CheckedPolicy[] = [];
  for (const [, policy] of index.of("AccessPolicy")) {
    const key = resourceKey(policy);
    const problems = policyProblems(policy);
    for (const problem of problems) statuses.invalid(key, problem);
    if (problems.length > 0) continue;
    for (const warning of clusterSourceWarnings(policy, trustDomain)) statuses.warn(key, warning);
    checked.push({
      key,
      namespace: policy.metadata.namespace,
      spec: policy.spec,
      rules: policy.spec.rules.map((_, i) => modelRule(policy, i, trustDomain)),
    });
  }
  const defaultDeny = new Set(checked.filter((p) => p.spec.defaultDeny).map((p) => p.namespace));
  const out: AccessByDestination = new Map();
  const appliesTo = new Map<string, string[]>();
  for (const [name, { resource }] of destinations.byName) {
    const applying = checked.filter((p) => selects(p, resource));
    const namespaceDenies = defaultDeny.has(resource.metadata.namespace);
    if (applying.length === 0 && !namespaceDenies) continue;
    const allowPolicies = applying.filter((p) => p.spec.action === AccessPolicySpec_Action.ALLOW);
    const access: ModelAccess = {
      deny: applying.filter((p) => p.spec.action === AccessPolicySpec_Action.DENY).flatMap((p) => p.rules),
      policies: applying.map((p) => p.key),
    };
    if (allowPolicies.length > 0 || namespaceDenies) access.allow = allowPolicies.flatMap((p) => p.rules);
    for (const policy of applying) appliesTo.set(policy.key, [...(appliesTo.get(policy.key) ?? []), name]);
    const lockout = lockoutOf(access);
    if (lockout) {
      // On the policies that make it so: the DENY rule's, else the ALLOW policies (or default-deny ones).
      const namespaceDefault = checked.filter((p) => p.spec.defaultDeny && p.namespace === resource.metadata.namespace);
      const blamed = lockout.policy
        ? [lockout.policy]
        : (allowPolicies.length > 0 ? allowPolicies : namespaceDefault).map((p) => p.key);
      for (const key of new Set(blamed)) statuses.warn(key, `Destination ${name}: ${lockout.message}`);
    }
    out.set(name, access);
  }
  for (const policy of checked) {
    const names = appliesTo.get(policy.key) ?? [];
    // Said on an accepted policy too: it is how `gantry get` shows where a policy applies.
    if (names.length > 0)
      statuses.report(
        policy.key,
        State.ACCEPTED,
        `applies to ${names.map((n) => kindKey("Destination", n)).join(", ")}`,
      );
    else if (!policy.spec.defaultDeny) statuses.warn(policy.key, "spec.destinations: selects no Destination");
  }
  return out;
}

/** Why every request to a destination would be refused (and, for a DENY rule, whose), if it would be. */
function lockoutOf(access: ModelAccess): { message: string; policy?: string } | undefined {
  const denyAll = access.deny.find((r) => matchesAnything(r));
  if (denyAll) {
    const [namespace, policy] = denyAll.name.split("/");
    return {
      message: `rule ${denyAll.name} denies every request`,
      policy: kindKey("AccessPolicy", `${namespace}/${policy}`),
    };
  }
  if (access.allow && access.allow.length === 0) {
    return {
      message:
        "nothing is allowed (ALLOW policies without rules, or a default-deny namespace with no ALLOW rule): every request is refused",
    };
  }
  return undefined;
}

function matchesAnything(rule: ModelAccessRule): boolean {
  return (
    rule.principals.length === 0 && rule.paths.length === 0 && rule.methods.length === 0 && rule.headers.length === 0
  );
}

function selects(policy: CheckedPolicy, destination: ResourceOf<"Destination">): boolean {
  if (destination.metadata.namespace !== policy.namespace) return false;
  if (policy.spec.destinations.length === 0) return true;
  return policy.spec.destinations.some((s) => matchesLabels(s.labels, destination.metadata.labels));
}

/** `/a/b` exact, `/a/*` a prefix; the same for SPIFFE IDs. */
function pattern(value: string): StringPattern {
  return value.endsWith("*") ? { prefix: value.slice(0, -1) } : { exact: value };
}

function modelRule(policy: ResourceOf<"AccessPolicy">, i: number, trustDomain: string): ModelAccessRule {
  const rule = policy.spec.rules[i];
  const from = rule?.from;
  const principals: StringPattern[][] = [];
  if (from?.identities.length) principals.push(from.identities.map(pattern));
  if (from?.namespaces.length)
    principals.push(from.namespaces.map((ns) => ({ prefix: `spiffe://${trustDomain}/ns/${ns}/sa/` })));
  if (from?.clusters.length)
    principals.push(from.clusters.map((c) => ({ exact: `spiffe://${trustDomain}/cluster/${c}` })));
  return {
    name: `${nsName(policy)}/rules[${i}]`,
    principals,
    paths: rule?.to?.paths.map(pattern) ?? [],
    methods: [...(rule?.to?.methods ?? [])],
    headers: (rule?.when ?? []).map((h) => ({ name: h.name, values: [...h.values] })),
  };
}

/**
 * `from.clusters` names a cluster's own identity (`spiffe://<td>/cluster/<name>`, which agents present),
 * not the workloads running there: a workload's certificate names its namespace and service account
 * only (the ID shape is fixed), and neither Envoy's nor gRPC's RBAC can match the intermediate that
 * signed it. So a policy meant for "callers in cluster east" would silently match no workload: warned,
 * per rule, and more loudly when it is combined with identities or namespaces in one `from`, which no
 * certificate can satisfy (each carries one identity), so that the rule matches nothing at all.
 */
function clusterSourceWarnings(policy: ResourceOf<"AccessPolicy">, trustDomain: string): string[] {
  const deny = policy.spec.action === AccessPolicySpec_Action.DENY;
  return policy.spec.rules.flatMap((rule, i) => {
    const from = rule.from;
    if (!from || from.clusters.length === 0) return [];
    const ids = from.clusters.map((c) => `spiffe://${trustDomain}/cluster/${c}`).join(", ");
    if (from.identities.length > 0 || from.namespaces.length > 0) {
      return [
        `spec.rules[${i}].from: clusters together with ${from.identities.length > 0 ? "identities" : "namespaces"} never matches (a caller's certificate carries one identity, and a workload's names no cluster): this rule ${deny ? "denies" : "allows"} nothing`,
      ];
    }
    return [
      `spec.rules[${i}].from.clusters: matches only callers presenting ${ids} (a cluster's agent), never a workload running there: workload certificates name no cluster; to name workloads, use from.identities or from.namespaces`,
    ];
  });
}

/** Every problem of one policy, each naming its field. */
function policyProblems(policy: ResourceOf<"AccessPolicy">): string[] {
  const problems: string[] = [];
  const spec = policy.spec;
  spec.destinations.forEach((selector, i) => {
    if (selector.namespace !== "" && selector.namespace !== policy.metadata.namespace) {
      problems.push(
        `spec.destinations[${i}].namespace: an AccessPolicy applies in its own namespace (${policy.metadata.namespace}), not ${selector.namespace}`,
      );
    }
  });
  if (spec.defaultDeny && spec.action === AccessPolicySpec_Action.DENY) {
    problems.push("spec.defaultDeny: set it on an ALLOW policy (it refuses what no ALLOW policy allows)");
  }
  spec.rules.forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    rule.from?.identities.forEach((id, j) => {
      if (!spiffePattern.test(id) || id.slice(0, -1).includes("*"))
        problems.push(
          `${at}.from.identities[${j}]: "${id}" is not a SPIFFE ID (spiffe://<trust-domain>/<path>, a trailing * for a prefix)`,
        );
    });
    rule.from?.namespaces.forEach((ns, j) => {
      if (!namePattern.test(ns)) problems.push(`${at}.from.namespaces[${j}]: "${ns}" is not a namespace name`);
    });
    rule.from?.clusters.forEach((c, j) => {
      if (!isClusterName(c))
        problems.push(`${at}.from.clusters[${j}]: "${c}" is not a cluster name: ${clusterNameRule}`);
    });
    rule.to?.paths.forEach((path, j) => {
      if (!path.startsWith("/") || path.slice(0, -1).includes("*"))
        problems.push(`${at}.to.paths[${j}]: "${path}" must start with / (and may end with * for a prefix)`);
    });
    rule.to?.methods.forEach((method, j) => {
      if (!methodPattern.test(method))
        problems.push(`${at}.to.methods[${j}]: "${method}" is not an HTTP method in upper case`);
    });
    rule.when.forEach((header, j) => {
      if (!headerName.test(header.name))
        problems.push(`${at}.when[${j}].name: "${header.name}" is not a lower-case header name`);
      // gRPC servers refuse a whole Listener whose RBAC matches these (gRFC A41).
      else if (header.name.startsWith("grpc-") || header.name === ":scheme")
        problems.push(
          `${at}.when[${j}].name: "${header.name}" cannot be matched (gRPC servers refuse grpc- headers and :scheme)`,
        );
    });
  });
  return problems;
}
