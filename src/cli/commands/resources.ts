import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Command, Option } from "commander";
import { stringify } from "yaml";
import type { Resource as ApiResource, ProxyClient, ProxyStatus } from "../../gen/gantry/api/v1/management_pb.js";
import { ResourceStatus_State } from "../../gen/gantry/v1/status_pb.js";
import { pluralOf } from "../../kube/index.js";
import { type Kind, kinds, loadResources, type ResourceRef, refKey, refOf } from "../../resources/index.js";
import { resourceToDocument } from "../../server/documents.js";
import { connect, explain, type ServerFlags, serverOptions } from "../api-client.js";
import { applyReportView, formatApplyReport } from "../apply-report.js";
import { ExitStatus } from "../exit.js";
import { formatTable } from "../table.js";
import { getClusters } from "./cluster.js";

type Output = "table" | "yaml" | "json";

/** `--show-secrets`: the server shows secret material only to a caller holding its secrets token. */
export function showSecretsOption(): Option {
  return new Option(
    "--show-secrets",
    "show secret material instead of <redacted, sha256:…> (the token given must be the server's secrets token)",
  );
}

function outputOption(): Option {
  return new Option("-o, --output <format>", "output format").choices(["table", "yaml", "json"]).default("table");
}

/**
 * Accepts a kind as written in documents, in any case, singular or plural (`routetables`, `RouteTable`).
 * `also` names what else the command takes in place of a kind (`get`: proxies, clusters), for the error.
 */
export function resolveKind(text: string, also: readonly string[] = []): Kind {
  const wanted = text.toLowerCase();
  // The plural as kubectl spells it too (`accesspolicies`, `routetables`).
  const kind = kinds.find((k) => k.toLowerCase() === wanted || pluralOf(k) === wanted);
  if (!kind) {
    const more = also.map((name) => `, and "${name}"`).join("");
    throw new Error(`unknown kind "${text}" (known: ${kinds.join(", ")}${more})`);
  }
  return kind;
}

function stateName(resource: ApiResource): string {
  return resource.status ? (ResourceStatus_State[resource.status.state] ?? "UNKNOWN") : "PENDING";
}

function print(output: Output, value: unknown, table: () => string): void {
  if (output === "json") process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (output === "yaml") process.stdout.write(stringify(value));
  else process.stdout.write(table());
}

function resourceJson(resource: ApiResource): JsonObject {
  return {
    ...(resource.document as JsonObject),
    status: {
      state: stateName(resource),
      messages: resource.status?.messages ?? [],
      revision: Number(resource.revision),
    },
  };
}

function streamJson(proxy: ProxyStatus): JsonObject {
  return {
    stream: proxy.stream,
    server: proxy.server,
    connectedAt: proxy.connectedAt ? new Date(Number(proxy.connectedAt.seconds) * 1000).toISOString() : null,
    metadata: (proxy.metadata ?? {}) as JsonObject,
    types: proxy.types.map((t) => ({
      typeUrl: t.typeUrl,
      ackedVersion: t.ackedVersion,
      ...(t.lastNackError ? { lastNackError: t.lastNackError } : {}),
    })),
  };
}

/** A client over all its streams: its resource counts, then each stream. */
export function clientJson(client: ProxyClient, streams: readonly ProxyStatus[]): JsonObject {
  return {
    nodeId: client.nodeId,
    server: client.server,
    metadata: (client.metadata ?? {}) as JsonObject,
    inSync: client.inSync,
    pending: client.pending,
    nacked: client.nacked,
    ...(client.lastNackError
      ? {
          lastNackError: client.lastNackError,
          lastNackTime: client.lastNackTime ? timestampDate(client.lastNackTime).toISOString() : null,
        }
      : {}),
    streams: streams.filter((s) => s.nodeId === client.nodeId).map(streamJson),
  };
}

export function registerResourceCommands(program: Command): void {
  const apply = program
    .command("apply")
    .description(
      "validate resource files and apply them to the server (all documents, or none); print per resource " +
        "created/configured/unchanged, its status after translation and warnings",
    )
    .requiredOption("-f, --filename <path...>", "YAML files or folders (multi-document; .yaml, .yml, .json)")
    .option("--dry-run", "validate and translate here and on the server, print the same report; store nothing")
    .addOption(
      new Option("-o, --output <format>", "text: a line per resource; json, yaml: the same as data")
        .choices(["text", "yaml", "json"])
        .default("text"),
    )
    .addHelpText(
      "after",
      "\nExit status: 0 when every resource is accepted (warnings too); 2 when the translator rejects any\n" +
        "resource (it is stored all the same unless --dry-run, and proxies keep what it replaced);\n" +
        "1 when nothing was applied (invalid files, server unreachable or refusing).",
    );
  for (const option of serverOptions()) apply.addOption(option);
  apply.action(
    async (flags: ServerFlags & { filename: string[]; dryRun?: boolean; output: "text" | "yaml" | "json" }) => {
      const loaded = await loadResources(flags.filename);
      if (loaded.rejected.length > 0) {
        const errors = loaded.rejected.flatMap((r) => r.errors);
        throw new Error(`${errors.length} problem(s), nothing was applied:\n  ${errors.join("\n  ")}`);
      }
      if (loaded.resources.length === 0) throw new Error(`no resources found in ${flags.filename.join(", ")}`);
      process.stderr.write(
        `${flags.dryRun ? "checking" : "applying"} ${loaded.resources.length} resource(s) ${flags.dryRun ? "against" : "to"} ${flags.server}...\n`,
      );
      const client = connect(flags);
      const response = await client
        .apply({
          // As JSON text: the server parses text in its worker thread, where Structs are decoded on its event loop.
          documentsJson: loaded.resources.map((r) => JSON.stringify(resourceToDocument(r))),
          dryRun: flags.dryRun ?? false,
        })
        .catch((err: unknown) => {
          throw explain(err, flags.server);
        });
      const report = applyReportView(response);
      process.stdout.write(
        flags.output === "json"
          ? `${JSON.stringify(report, null, 2)}\n`
          : flags.output === "yaml"
            ? stringify(report)
            : formatApplyReport(report),
      );
      if (!flags.dryRun) process.stderr.write(`revision ${report.revision}\n`);
      const rejected = report.resources.filter((r) => r.status === "Rejected");
      if (rejected.length > 0) {
        throw new ExitStatus(
          2,
          `${rejected.length} resource(s) rejected by the translator${flags.dryRun ? " (dry run: nothing was stored)" : "; they are stored, and proxies keep what they replaced (see the reasons)"}: ` +
            rejected.map(refKey).join(", "),
        );
      }
    },
  );

  const get = program
    .command("get")
    .description(
      "list resources of a kind, or one by name; `get proxies` lists connected proxies, `get clusters` workload clusters",
    )
    .argument("<kind>", `one of ${kinds.join(", ")} (any case, singular or plural), proxies or clusters`)
    .argument("[name]", "a resource name")
    .option("-n, --namespace <namespace>", "only this namespace (default: all)")
    .addOption(outputOption())
    .addOption(showSecretsOption());
  for (const option of serverOptions()) get.addOption(option);
  get.action(
    async (
      kindText: string,
      name: string | undefined,
      flags: ServerFlags & { namespace?: string; output: Output; showSecrets?: boolean },
    ) => {
      const showSecrets = flags.showSecrets === true;
      const client = connect(flags);
      const fail = (err: unknown) => {
        throw explain(err, flags.server);
      };
      if (/^clusters?$/i.test(kindText)) {
        await getClusters(flags, name);
        return;
      }
      if (/^prox(y|ies)$/i.test(kindText)) {
        const { proxies, clients } = await client.listProxies({}).catch(fail);
        const shown = name ? clients.filter((c) => c.nodeId === name) : clients;
        if (name && shown.length === 0) throw new Error(`proxy ${name} is not connected to ${flags.server}`);
        const json = shown.map((c) => clientJson(c, proxies));
        print(flags.output, name ? json[0] : json, () =>
          formatTable(
            ["NODE", "STREAMS", "SERVER", "IN SYNC", "PENDING", "NACKED", "LAST NACK"],
            shown.map((c) => [
              c.nodeId,
              `${c.streams.length} (${c.streams.join(",")})`,
              c.server,
              String(c.inSync),
              String(c.pending),
              String(c.nacked),
              c.lastNackError || "-",
            ]),
          ),
        );
        return;
      }
      const kind = resolveKind(kindText, ["proxies", "clusters"]);
      if (name) {
        const { resource } = await client
          .get({ ref: { kind, namespace: flags.namespace ?? "default", name }, showSecrets })
          .catch(fail);
        if (!resource) throw new Error(`${kind} ${name} not found`);
        print(flags.output, resourceJson(resource), () =>
          formatTable(["KIND", "NAMESPACE", "NAME", "STATUS", "REVISION"], [row(resource)]),
        );
        return;
      }
      const { resources } = await client.list({ kind, namespace: flags.namespace ?? "", showSecrets }).catch(fail);
      print(flags.output, resources.map(resourceJson), () =>
        formatTable(["KIND", "NAMESPACE", "NAME", "STATUS", "REVISION"], resources.map(row)),
      );
    },
  );

  const del = program
    .command("delete")
    .description("delete resources by kind and name, or those defined in files")
    .argument("[kind]", "the kind of the resources to delete")
    .argument("[names...]", "their names")
    .option("-n, --namespace <namespace>", "their namespace", "default")
    .option("-f, --filename <path...>", "delete the resources these files define");
  for (const option of serverOptions()) del.addOption(option);
  del.action(
    async (
      kindText: string | undefined,
      names: string[],
      flags: ServerFlags & { namespace: string; filename?: string[] },
    ) => {
      let refs: ResourceRef[];
      if (flags.filename) {
        const loaded = await loadResources(flags.filename);
        if (loaded.rejected.length > 0) {
          throw new Error(`cannot read the files:\n  ${loaded.rejected.flatMap((r) => r.errors).join("\n  ")}`);
        }
        refs = loaded.resources.map(refOf);
      } else {
        if (!kindText || names.length === 0) throw new Error("name a kind and at least one resource, or use -f FILE");
        const kind = resolveKind(kindText);
        refs = names.map((name) => ({ kind, namespace: flags.namespace, name }));
      }
      const result = await connect(flags)
        .delete({ refs })
        .catch((err: unknown) => {
          throw explain(err, flags.server);
        });
      const deleted = new Set(result.deleted.map(refKey));
      for (const ref of refs) {
        const key = refKey(ref);
        process.stdout.write(`${key} ${deleted.has(key) ? "deleted" : "not found"}\n`);
      }
    },
  );
}

function row(resource: ApiResource): string[] {
  return [
    resource.ref?.kind ?? "",
    resource.ref?.namespace ?? "",
    resource.ref?.name ?? "",
    stateName(resource),
    String(resource.revision),
  ];
}
