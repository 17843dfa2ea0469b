// `gantry insights`: the server's active insights (filters, `-o json`), and `insights silence` /
// `insights unsilence` CODE, everywhere or for one target.
import { toJson } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { type Command, Option } from "commander";
import { stringify } from "yaml";
import { type Insight, ListInsightsResponseSchema } from "../../gen/gantry/api/v1/insights_pb.js";
import { categories, insightCodes, severities, targetKey } from "../../insights/index.js";
import { connect, explain, type ServerFlags, serverOptions } from "../api-client.js";
import { formatTable } from "../table.js";

interface TargetFlags {
  kind?: string;
  namespace?: string;
  name?: string;
}

interface ListFlags extends ServerFlags, TargetFlags {
  code?: string;
  severity?: string;
  category?: string;
  cluster?: string;
  all?: boolean;
  resolved?: boolean;
  output: "table" | "json" | "yaml";
}

function targetOptions(command: Command, what: string): Command {
  return command
    .option("--kind <kind>", `${what}: the target's kind (a resource kind, Proxy, Redis, Service, Agent)`)
    .option("-n, --namespace <namespace>", `${what}: the target's namespace`)
    .option("--name <name>", `${what}: the target's name (a node id for a Proxy)`);
}

function targetOf(flags: TargetFlags) {
  if (!flags.kind && !flags.name && flags.namespace === undefined) return undefined;
  return { kind: flags.kind ?? "", namespace: flags.namespace ?? "", name: flags.name ?? "" };
}

function checkCode(code: string): string {
  const upper = code.toUpperCase();
  if (!insightCodes.has(upper)) throw new Error(`unknown insight code "${code}" (see docs/insights.md for the list)`);
  return upper;
}

function time(ts: Timestamp | undefined): string {
  return ts
    ? timestampDate(ts)
        .toISOString()
        .replace(/\.\d{3}Z$/, "Z")
    : "-";
}

function targetText(insight: Insight): string {
  const t = insight.targets[0];
  if (!t) return "-";
  return t.namespace ? `${t.kind}/${t.namespace}/${t.name}` : `${t.kind}/${t.name}`;
}

/** One row per insight: what, where, since when. */
export function formatInsights(insights: readonly Insight[]): string {
  if (insights.length === 0) return "No insights.\n";
  return formatTable(
    ["CODE", "SEVERITY", "TARGET", "CLUSTER", "FIRST SEEN", "STATE", "SUMMARY"],
    insights.map((i) => [
      i.code,
      i.severity,
      targetText(i),
      i.cluster || "-",
      time(i.firstSeen),
      i.resolvedAt ? `resolved ${time(i.resolvedAt)}` : i.silenced ? "silenced" : "active",
      i.summary,
    ]),
  );
}

export function registerInsights(program: Command): void {
  const command = program
    .command("insights")
    .description("list the server's insights: coded findings with what to do (docs/insights.md)")
    // Options after `silence`/`unsilence` are theirs: both levels take --kind, --name and --server.
    .enablePositionalOptions()
    .option("--code <code>", "only this code (GTY0101, ...)")
    .addOption(new Option("--severity <severity>", "only this severity").choices([...severities]))
    .addOption(new Option("--category <category>", "only this category").choices([...categories]))
    .option("--cluster <cluster>", "only this workload cluster")
    .option("--all", "also list silenced insights")
    .option("--resolved", "also list resolved insights from the history (newest first)")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "yaml", "json"]).default("table"),
    );
  targetOptions(command, "filter");
  for (const option of serverOptions()) command.addOption(option);
  command.action(async (flags: ListFlags) => {
    const target = targetOf(flags);
    const response = await connect(flags)
      .listInsights({
        code: flags.code ? checkCode(flags.code) : "",
        severity: flags.severity ?? "",
        category: flags.category ?? "",
        cluster: flags.cluster ?? "",
        ...(target ? { target } : {}),
        includeSilenced: flags.all === true,
        includeResolved: flags.resolved === true,
      })
      .catch((err: unknown) => {
        throw explain(err, flags.server);
      });
    if (flags.output === "table") {
      process.stdout.write(formatInsights(response.insights));
      return;
    }
    const json = toJson(ListInsightsResponseSchema, response);
    process.stdout.write(flags.output === "json" ? `${JSON.stringify(json, null, 2)}\n` : stringify(json));
  });

  const silence = command
    .command("silence")
    .description("silence a code everywhere, or for one target (--kind, --name, -n); shared by every replica")
    .argument("<code>", "the insight code")
    .option("--reason <text>", "why, for whoever reads the silence later", "");
  targetOptions(silence, "silence only");
  for (const option of serverOptions()) silence.addOption(option);
  silence.action(async (code: string, flags: ServerFlags & TargetFlags & { reason: string }) => {
    const target = targetOf(flags);
    await connect(flags)
      .silenceInsight({ code: checkCode(code), reason: flags.reason, ...(target ? { target } : {}) })
      .catch((err: unknown) => {
        throw explain(err, flags.server);
      });
    process.stdout.write(`silenced ${code.toUpperCase()}${target ? ` for ${targetKey(target)}` : ""}\n`);
  });

  const unsilence = command
    .command("unsilence")
    .description("remove a silence (the same code and target it was given)")
    .argument("<code>", "the insight code");
  targetOptions(unsilence, "the silence's target");
  for (const option of serverOptions()) unsilence.addOption(option);
  unsilence.action(async (code: string, flags: ServerFlags & TargetFlags) => {
    const target = targetOf(flags);
    const { removed } = await connect(flags)
      .unsilenceInsight({ code: checkCode(code), ...(target ? { target } : {}) })
      .catch((err: unknown) => {
        throw explain(err, flags.server);
      });
    process.stdout.write(
      removed ? `unsilenced ${code.toUpperCase()}\n` : `no such silence for ${code.toUpperCase()}\n`,
    );
  });
}
