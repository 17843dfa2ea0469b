import { toJson } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { type Command, Option } from "commander";
import { stringify } from "yaml";
import {
  type ClientResourceStatus,
  type DescribeResponse,
  DescribeResponseSchema,
  type EnvoyResourceStatus,
  type ResourceRef,
  type ServedRoute,
} from "../../gen/gantry/api/v1/management_pb.js";
import { ResourceStatus_State } from "../../gen/gantry/v1/status_pb.js";
import { kinds, namespacedName, refKey } from "../../resources/index.js";
import { policyKinds } from "../../translate/index.js";
import { connect, explain, type ServerFlags, serverOptions } from "../api-client.js";
import { formatTable } from "../table.js";
import { describeCluster } from "./cluster.js";
import { resolveKind, showSecretsOption } from "./resources.js";

type Output = "text" | "yaml" | "json";

const policyKindSet: ReadonlySet<string> = new Set(policyKinds);

function nsName(ref: ResourceRef | undefined): string {
  return ref ? namespacedName(ref) : "";
}

/** A table indented under its section heading; "<none>" when empty. */
function section(title: string, headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return `${title}:\n  <none>\n`;
  const table = formatTable(headers, rows)
    .trimEnd()
    .split("\n")
    .map((line) => `  ${line}`);
  return `${title}:\n${table.join("\n")}\n`;
}

function list(title: string, items: readonly string[]): string {
  return `${`${title}:`.padEnd(19)}${items.length > 0 ? items.join(", ") : "<none>"}\n`;
}

function field(title: string, value: string): string {
  return `${`${title}:`.padEnd(19)}${value}\n`;
}

/** What a described policy sets on a route; for other kinds, every policy on the route. */
function policiesCell(route: ServedRoute, described: ResourceRef): string {
  if (policyKindSet.has(described.kind)) {
    return route.policies.find((p) => p.policy && refKey(p.policy) === refKey(described))?.effect ?? "";
  }
  return route.policies.map((p) => (p.policy ? refKey(p.policy) : "")).join(", ");
}

function isoTime(timestamp: Timestamp | undefined): string {
  return timestamp ? timestampDate(timestamp).toISOString() : "";
}

/** Versions are 16-hex content hashes: the first 8 tell them apart on a screen. */
function shortVersion(version: string): string {
  return version ? version.slice(0, 8) : "-";
}

/** A client's state on one resource, with what explains it. */
function clientState(client: ClientResourceStatus): { state: string; detail: string } {
  switch (client.state) {
    case "in-sync":
      return { state: "in sync", detail: "-" };
    case "nacked":
      return { state: "NACKED", detail: `since ${isoTime(client.since)}: ${client.error}` };
    default:
      return client.sent
        ? { state: "pending", detail: `sent ${isoTime(client.since)}, not ACKed yet` }
        : { state: "pending", detail: "not sent yet" };
  }
}

/** One row per resource and client subscribing to it; a resource nobody subscribes to gets one row. */
function envoyResourceRows(resources: readonly EnvoyResourceStatus[]): string[][] {
  return resources.flatMap((r) => {
    const head = [r.typeUrl.slice(r.typeUrl.lastIndexOf(".") + 1), r.name, shortVersion(r.version)];
    if (r.clients.length === 0) return [[...head, "-", "-", "-", "-", "no client subscribes"]];
    return r.clients.map((c, i) => {
      const { state, detail } = clientState(c);
      const resource = i === 0 ? head : ["", "", ""];
      return [...resource, c.nodeId, state, shortVersion(c.clientVersion), String(c.streams), detail];
    });
  });
}

/** kubectl-describe style: name, kind, status, then one section per relation. */
export function formatDescription(response: DescribeResponse): string {
  const resource = response.resource;
  const ref = resource?.ref;
  if (!resource || !ref) return "No resource.\n";
  const status = resource.status;
  let out = "";
  out += field("Name", nsName(ref));
  out += field("Kind", ref.kind);
  const state = status ? (ResourceStatus_State[status.state] ?? "UNKNOWN") : "PENDING (not translated yet)";
  out += field("Status", status?.since ? `${state} (since ${isoTime(status.since)})` : state);
  for (const message of status?.messages ?? []) out += `${"".padEnd(19)}- ${message}\n`;
  out += field("Revision", `${resource.revision} (published: ${response.publishedRevision})`);
  if (response.authConfigId) out += field("Auth config id", response.authConfigId);
  if (response.rateLimitDomain) out += field("Rate-limit domain", response.rateLimitDomain);
  out += "\n";
  out += section(
    "Insights",
    ["CODE", "SEVERITY", "SINCE", "SUMMARY"],
    response.insights.map((i) => [
      i.silenced ? `${i.code} (silenced)` : i.code,
      i.severity,
      isoTime(i.firstSeen),
      i.summary,
    ]),
  );
  out += "\n";
  out += section(
    "Served by",
    ["NODE", "ROLE", "STREAMS", "GATEWAYS", "ACKED", "PENDING TYPES", "LAST NACK"],
    response.servedBy.map((p) => [
      p.nodeId,
      p.role,
      p.stream,
      p.gateways.join(",") || "-",
      p.acked ? "yes" : "no",
      p.pendingTypes.map((t) => t.slice(t.lastIndexOf(".") + 1)).join(",") || "-",
      p.lastNackError || "-",
    ]),
  );
  out += "\n";
  out += section(
    "xDS resources",
    ["TYPE", "NAME", "VERSION", "NODE", "STATE", "RUNS", "STREAMS", "DETAIL"],
    envoyResourceRows(response.envoyResources),
  );
  out += "\n";
  if (ref.kind !== "Gateway") out += list("Gateways", response.gateways.map(nsName));
  if (response.routeTables.length > 0 || ref.kind === "Gateway" || ref.kind === "RouteTable") {
    out += list("Route tables", response.routeTables.map(nsName));
  }
  if (ref.kind === "Destination") out += list("Clusters", response.clusters);
  if (!policyKindSet.has(ref.kind) && ref.kind !== "Secret") {
    out += list("Attached policies", response.policies.map(refKey));
  }
  if (ref.kind === "Secret") return out;
  out += "\n";
  const attachedTo = policyKindSet.has(ref.kind) || ref.kind === "AuthConfig";
  out += section(
    attachedTo ? "Attached to" : "Routes",
    ["ROUTE", "GATEWAY", "LISTENER", "HOSTS", "MATCH", "ACTION", policyKindSet.has(ref.kind) ? "EFFECT" : "POLICIES"],
    response.routes.map((r) => [
      r.name,
      nsName(r.gateway),
      r.listener,
      r.hosts.join(","),
      r.match,
      r.action,
      policiesCell(r, ref) || "-",
    ]),
  );
  return out;
}

export function registerDescribe(program: Command): void {
  const command = program
    .command("describe")
    .description("show a resource: its status, the proxies serving it, and what attaches to it or what it attaches to")
    .argument("<kind>", `one of ${kinds.join(", ")} (any case, singular or plural), or cluster`)
    .argument("<name>", "the resource name")
    .option("-n, --namespace <namespace>", "its namespace", "default")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "yaml", "json"]).default("text"))
    .addOption(showSecretsOption());
  for (const option of serverOptions()) command.addOption(option);
  command.action(
    async (
      kindText: string,
      name: string,
      flags: ServerFlags & { namespace: string; output: Output; showSecrets?: boolean },
    ) => {
      if (/^clusters?$/i.test(kindText)) {
        await describeCluster(flags, name);
        return;
      }
      if (/^prox(y|ies)$/i.test(kindText)) {
        throw new Error("describe takes a resource kind; for a proxy, use `gantry get proxies NODE-ID`");
      }
      const kind = resolveKind(kindText, ["cluster"]);
      const response = await connect(flags)
        .describe({ ref: { kind, namespace: flags.namespace, name }, showSecrets: flags.showSecrets === true })
        .catch((err: unknown) => {
          throw explain(err, flags.server);
        });
      if (flags.output === "text") {
        process.stdout.write(formatDescription(response));
        return;
      }
      const json = toJson(DescribeResponseSchema, response);
      process.stdout.write(flags.output === "json" ? `${JSON.stringify(json, null, 2)}\n` : stringify(json));
    },
  );
}
