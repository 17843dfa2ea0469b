// The registry of insight codes: every code Gantry can report, in one place. A code is stable once
// shipped (dashboards, silences and users' CI refer to it); a retired code keeps its number unused.
// Numbers group by category: GTY01xx config, GTY02xx proxies, GTY03xx security, GTY04xx data plane,
// GTY05xx platform. docs/insights.md is generated from this table (scripts/insights-docs.mjs).
import type { Category, Severity } from "./types.js";

export interface CodeInfo {
  readonly code: string;
  /** A short CamelCase name, for people and for SARIF rule names. */
  readonly name: string;
  readonly category: Category;
  readonly severity: Severity;
  /** One line; `{placeholder}`s are filled from the finding's args. */
  readonly summary: string;
  /** What it means and why it matters. */
  readonly details: string;
  /** What to do about it. */
  readonly resolution: string;
}

const table: readonly CodeInfo[] = [
  {
    code: "GTY0101",
    name: "DanglingReference",
    category: "config",
    severity: "ERROR",
    summary: "{field} refers to {target}, which does not exist",
    details:
      "A resource names another resource that is not in the store (or not of that kind). Whatever depends on " +
      "the reference is not served: a route to a missing Destination is left out, a listener whose TLS Secret is " +
      "missing is not served, an ExtAuthPolicy naming a missing AuthConfig denies.",
    resolution: "Create the referenced resource, or correct the name and namespace in the field named.",
  },
  {
    code: "GTY0102",
    name: "PolicySelectsNothing",
    category: "config",
    severity: "WARNING",
    summary: "{kind} {name} selects no route",
    details:
      "The policy's applyToRoutes and applyToDestinations selectors match no route that any gateway serves, so it " +
      "has no effect. Often a label typo, or a namespace in the selector that differs from the routes'.",
    resolution:
      "Compare the selector's labels and namespace with the routes' labels (`gantry describe RouteTable NAME`), " +
      "or delete the policy if it is no longer wanted.",
  },
  {
    code: "GTY0103",
    name: "ShadowedRoute",
    category: "config",
    severity: "WARNING",
    summary: "route {route} is never reached: {by} matches every request it would match",
    details:
      "Proxies try routes in order and take the first that matches. An earlier route of the same virtual host " +
      "matches everything this one matches, so no request reaches it.",
    resolution:
      "Make the earlier route more specific, or move the shadowed route before it (a more specific path, or an " +
      "extra header, query or method condition).",
  },
  {
    code: "GTY0104",
    name: "ConflictingPolicies",
    category: "config",
    severity: "WARNING",
    summary: "{kind} {name} is not applied to route {route}: {holder} already applies there",
    details:
      "Two policies of one kind select the same route (or a RateLimitPolicy selects a route whose rate limit " +
      "an ApiProduct's usage plans already hold). Only one of them takes effect on it; the other is " +
      "skipped there, which is easy to miss when the two were written by different teams.",
    resolution: "Narrow one of the selectors so each route gets one policy of each kind, or merge the policies.",
  },
  {
    code: "GTY0105",
    name: "CostlyRegex",
    category: "config",
    severity: "WARNING",
    summary: "{field} holds a costly regex: {reason}",
    details:
      "Proxies evaluate this regex on every request the route or policy sees. Unanchored leading wildcards, " +
      "nested repetition and very long or large patterns cost CPU per request and make matching hard to reason about.",
    resolution: "Prefer prefix or exact matches; otherwise anchor the regex and drop leading `.*` and nested repeats.",
  },
  {
    code: "GTY0106",
    name: "RouteTimeoutDisabled",
    category: "config",
    severity: "WARNING",
    summary: "route {route} forwards with its timeout disabled (0s)",
    details:
      "A timeout of 0s turns the proxy's request timeout off: a hung upstream holds the connection and the " +
      "caller until the client gives up. Streaming routes need it; most others do not.",
    resolution: "Set spec.http[].forwardTo.timeout, or a RetryTimeoutPolicy timeout, to a bound the callers can wait.",
  },
  {
    code: "GTY0107",
    name: "RouteDefaultTimeout",
    category: "config",
    severity: "INFO",
    summary: "route {route} sets no timeout; the proxy's default (15s for Envoy) applies",
    details:
      "Without a timeout on the route or from a RetryTimeoutPolicy, Envoy waits 15s for the whole request and " +
      "gRPC clients wait for their own deadline. That may be far longer or shorter than the service needs.",
    resolution: "Set an explicit timeout that matches the service's latency objective.",
  },
  {
    code: "GTY0108",
    name: "UnusedDestination",
    category: "config",
    severity: "INFO",
    summary: "Destination {name} is not used by any served route",
    details: "No route of any gateway forwards to this Destination, so no proxy gets a cluster for it.",
    resolution: "Delete it if it is left over, or add the route meant to use it.",
  },
  {
    code: "GTY0109",
    name: "ResourceNotServed",
    category: "config",
    severity: "ERROR",
    summary: "{kind} {name} is {state}: {message}",
    details:
      "Translation refused the resource (its status is INVALID or FAILED): proxies keep the last version that " +
      "was accepted, or do not get it at all.",
    resolution: "Fix the field the message names; `gantry get KIND NAME -o yaml` shows the whole status.",
  },
  {
    code: "GTY0110",
    name: "PolicyIgnoredByProxyless",
    category: "config",
    severity: "WARNING",
    summary: "{kind} {name} applies to route {route} of proxyless gRPC gateway {gateway}, where it has no effect",
    details:
      "Proxyless gRPC clients apply routing, weights, timeouts, retries and fault injection from xDS, but not CORS, " +
      "header rewrites, external authorization or rate limits: those are Envoy HTTP filters. The route is served to " +
      "the gateway's clients without the policy, so calls through it are neither checked nor limited there.",
    resolution:
      "Enforce it where the calls arrive (an Envoy gateway in front, or the server's own interceptors), or narrow " +
      "the policy's selector to routes of Envoy gateways.",
  },
  {
    code: "GTY0111",
    name: "EastWestGatewayMissing",
    category: "config",
    severity: "WARNING",
    summary:
      "VirtualDestination {name}: cluster {cluster} has no east-west gateway; Envoy callers of Gateway {gateway} outside it do not get its endpoints",
    details:
      "Envoy callers reach another cluster's endpoints of a VirtualDestination only through that cluster's " +
      "east-west gateway (a Gateway placed in it with an EAST_WEST listener). Without one, those callers are not " +
      "given the cluster's endpoints at all, so they cannot fail over to it. Proxyless gRPC callers are not " +
      "affected: they reach every cluster's endpoints directly.",
    resolution:
      "Add a Gateway placed in that cluster (metadata.clusters) with a listener of protocol EAST_WEST and its " +
      "externalAddresses, or place the calling Gateway in that cluster only.",
  },
  {
    code: "GTY0201",
    name: "ProxyDisconnected",
    category: "proxies",
    severity: "WARNING",
    summary: "proxy {node} has been disconnected since {since}",
    details:
      "A proxy that was connected to this server replica closed its last xDS stream and has not come back. It " +
      "keeps serving its last configuration, but misses every change since. A proxy scaled down on purpose " +
      "resolves by itself after an hour.",
    resolution: "Check the proxy's logs and its path to the xDS port; `gantry get proxies` lists who is connected.",
  },
  {
    code: "GTY0202",
    name: "ProxyStale",
    category: "proxies",
    severity: "WARNING",
    summary: "proxy {node} has not acknowledged {type} sent {age} ago",
    details:
      "The server sent a new version and the proxy has neither ACKed nor NACKed it. The proxy runs older " +
      "configuration than what was published: overloaded, stuck, or behind a proxy dropping its stream.",
    resolution: "Check the proxy's load and logs; restarting it makes it fetch the current configuration.",
  },
  {
    code: "GTY0203",
    name: "ProxyRejectsConfig",
    category: "proxies",
    severity: "ERROR",
    summary: "proxy {node} rejects {type} ({resources}): {error}",
    details:
      "The proxy NACKed the current version of these resources with the error shown, and runs its previous " +
      "version. Usually a feature the proxy's version does not know, or a resource the server should have refused.",
    resolution:
      "Read the error: upgrade the proxy if it is too old for the feature, or change the resource that produced " +
      "it (`gantry describe` on it shows which clients refuse it).",
  },
  {
    code: "GTY0204",
    name: "ProxyVersionSkew",
    category: "proxies",
    severity: "WARNING",
    summary: "proxy {node} runs {agent} {version}, while most run {expected}",
    details:
      "Proxies of one kind connected to this server run different versions. Configuration that one version " +
      "accepts another may reject, and behaviour differs between them.",
    resolution: "Finish the rollout, or roll the odd proxies back, so one version runs everywhere.",
  },
  {
    code: "GTY0301",
    name: "CertificateExpiringSoon",
    category: "security",
    severity: "WARNING",
    summary: "Secret {name}: certificate {subject} expires in {days} days",
    details:
      "A certificate Gantry serves to proxies expires soon. After that, clients refuse the TLS handshake and the " +
      "listener (or upstream) stops working.",
    resolution: "Renew the certificate and apply the Secret again; proxies pick it up without a restart.",
  },
  {
    code: "GTY0302",
    name: "CertificateExpired",
    category: "security",
    severity: "ERROR",
    summary: "Secret {name}: certificate {subject} expired on {notAfter}",
    details: "A certificate Gantry serves is past its validity: clients refuse it now.",
    resolution: "Renew the certificate at once and apply the Secret again.",
  },
  {
    code: "GTY0303",
    name: "WeakKey",
    category: "security",
    severity: "WARNING",
    summary: "Secret {name}: certificate {subject} uses {weakness}",
    details:
      "The certificate's key or signature is weaker than current practice (RSA under 2048 bits, EC under 256 " +
      "bits, SHA-1 or MD5 signatures). Clients may refuse it, and it may be forged.",
    resolution: "Issue a new certificate with an RSA 2048+ or ECDSA P-256+ key and a SHA-256 (or better) signature.",
  },
  {
    code: "GTY0304",
    name: "BrokenChain",
    category: "security",
    severity: "ERROR",
    summary: "Secret {name}: {problem}",
    details:
      "The certificate chain cannot be used as served: a PEM block does not parse, a certificate is not signed " +
      "by the next one in the chain, or the private key does not belong to the leaf certificate.",
    resolution: "Put the leaf first, then each intermediate in order, and pair it with the leaf's own key.",
  },
  {
    code: "GTY0401",
    name: "RateLimitOverLimitSpike",
    category: "data-plane",
    severity: "WARNING",
    summary: "{ratio} of rate-limited requests were over the limit in the last {window}",
    details:
      "A large share of the requests the rate-limit service counted were refused. Either a client misbehaves, " +
      "or a limit is too low for real traffic.",
    resolution:
      "Look at gantry_ratelimit_rule_over_limit by rule to find which limit; raise it, or find the client " +
      "behind the spike.",
  },
  {
    code: "GTY0402",
    name: "ExtAuthErrors",
    category: "data-plane",
    severity: "ERROR",
    summary: "{ratio} of ext-auth checks failed with an error in the last {window}",
    details:
      "The ext-auth service answered checks with errors (a backend such as an OIDC provider, LDAP or its Redis " +
      "is failing, or an auth config is unknown). Envoy then denies, or allows when failure_mode_allow is set.",
    resolution:
      "Look at gantry_extauth_backend_errors_total by evaluator and at the ext-auth logs; fix the backend or the config.",
  },
  {
    code: "GTY0403",
    name: "ExtAuthDenySpike",
    category: "data-plane",
    severity: "WARNING",
    summary: "{ratio} of ext-auth checks were denied in the last {window}",
    details:
      "Most checks were denied. That can be an attack, expired credentials on a client, or a policy change that " +
      "locks out legitimate users.",
    resolution: "Look at gantry_extauth_checks_total by config_id to find which auth config denies.",
  },
  {
    code: "GTY0404",
    name: "RedisFallback",
    category: "data-plane",
    severity: "WARNING",
    summary: "the rate-limit service could not reach its Redis {count} times in the last {window}",
    details:
      "Requests were answered without the shared counters (by the service's failure mode), so limits were not " +
      "enforced across replicas while it lasted.",
    resolution: "Check the rate-limit Redis (reachability, latency, memory) and gantry_ratelimit_redis_errors_total.",
  },
  {
    code: "GTY0501",
    name: "RedisUnreachable",
    category: "platform",
    severity: "ERROR",
    summary: "the {role} Redis does not answer: {error}",
    details:
      "A Redis Gantry depends on does not answer. For the management Redis: applies fail and replicas stop " +
      "seeing each other's changes, while proxies keep their configuration.",
    resolution: "Check the Redis server, its address in --redis-url, credentials and TLS files.",
  },
  {
    code: "GTY0502",
    name: "RedisSlow",
    category: "platform",
    severity: "WARNING",
    summary: "the {role} Redis answers slowly: PING took {latency}",
    details: "Round trips to Redis are slow enough to delay applies, watches and data-plane decisions.",
    resolution: "Check the Redis server's load (slowlog, CPU), its network path, and persistence stalls.",
  },
  {
    code: "GTY0503",
    name: "RedisMemoryNearLimit",
    category: "platform",
    severity: "WARNING",
    summary: "the {role} Redis uses {percent} of its maxmemory ({used} of {max})",
    details:
      "Once Redis reaches maxmemory it evicts keys or refuses writes, by its policy: stored resources, " +
      "sessions or counters may be lost.",
    resolution: "Raise maxmemory, or find what grows (`redis-cli --bigkeys`).",
  },
  {
    code: "GTY0504",
    name: "RedisEvictions",
    category: "platform",
    severity: "ERROR",
    summary: "the {role} Redis evicted {count} keys since the last check",
    details:
      "Redis dropped keys to stay under maxmemory. Gantry's data in it (resources, insight history) may be gone.",
    resolution: "Give Redis more memory, or set maxmemory-policy to noeviction for the management Redis.",
  },
  {
    code: "GTY0505",
    name: "AgentDisconnected",
    category: "platform",
    severity: "ERROR",
    summary: "the agent of cluster {cluster} has been disconnected since {since}",
    details:
      "The cluster's agent is not connected to the management server: its proxies keep the agent's " +
      "last-known-good configuration and get no change until it reconnects.",
    resolution: "Check the agent's logs, its token or certificate, and its path to the relay endpoint.",
  },
  {
    code: "GTY0506",
    name: "AgentSnapshotStale",
    category: "platform",
    severity: "WARNING",
    summary: "the agent of cluster {cluster} runs snapshot {agentVersion}, {behind} behind the published {version}",
    details:
      "The agent is connected but has not taken the latest snapshot the server published for its cluster, so " +
      "its proxies run older configuration.",
    resolution: "Check the agent's logs for refused snapshots and its load.",
  },
  {
    code: "GTY0507",
    name: "DiscoveredNameTaken",
    category: "platform",
    severity: "ERROR",
    summary: "cluster {cluster}'s {discovered} is not stored: its name {stored} is a user's resource's",
    details:
      "An agent's Destination `NAME` is stored at the server as `NAME.<cluster>`. A resource applied by a user " +
      "already has that name, so the agent's is left out (neither overwrites the other): routes and " +
      "VirtualDestinations naming it get the user's, not the cluster's endpoints.",
    resolution:
      "Rename the user's resource (names ending in `.<cluster>` are that cluster's agent's), or the Destination " +
      "in the cluster.",
  },
];

export const insightCodes: ReadonlyMap<string, CodeInfo> = new Map(table.map((info) => [info.code, info]));

export function codeInfo(code: string): CodeInfo {
  const info = insightCodes.get(code);
  if (!info) throw new Error(`unknown insight code ${code}`);
  return info;
}

/** The docs anchor of a code (in docs/insights.md). */
export function docsAnchor(code: string): string {
  return code.toLowerCase();
}

/** The summary with its placeholders filled; a missing value reads `?` (a bug to see, not to crash on). */
export function summarize(code: string, args: Readonly<Record<string, string>>): string {
  return codeInfo(code).summary.replace(/\{(\w+)\}/g, (_, key: string) => args[key] ?? "?");
}
