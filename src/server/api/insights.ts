// The management API's insight calls: list (active, silenced, resolved), silence and unsilence,
// and the insights `describe` shows for one resource.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Insight as InsightMessage,
  InsightSchema,
  type InsightSilence,
  InsightSilenceSchema,
  type InsightTarget,
  type ListInsightsRequest,
  type ListInsightsResponse,
  type SilenceInsightRequest,
  type SilenceInsightResponse,
  type UnsilenceInsightRequest,
  type UnsilenceInsightResponse,
} from "../../gen/gantry/api/v1/insights_pb.js";
import {
  codeInfo,
  docsAnchor,
  type Insight,
  type InsightBook,
  insightCodes,
  isSilenced,
  matches,
  type Silence,
  type Target,
} from "../../insights/index.js";

/** What the API needs of the insights: the book of the server's runtime. */
export type InsightsDeps = Pick<
  InsightBook,
  "active" | "history" | "silence" | "unsilence" | "refreshSilences" | "silences"
>;

function toMessage(insight: Insight, silenced: boolean): InsightMessage {
  const info = codeInfo(insight.code);
  return create(InsightSchema, {
    id: insight.id,
    code: insight.code,
    severity: insight.severity,
    category: insight.category,
    summary: insight.summary,
    targets: insight.targets.map((t) => ({ ...t })),
    cluster: insight.cluster,
    subject: insight.subject,
    evidence: { ...insight.evidence },
    firstSeen: timestampFromMs(insight.firstSeen),
    lastSeen: timestampFromMs(insight.lastSeen),
    ...(insight.resolvedAt === undefined ? {} : { resolvedAt: timestampFromMs(insight.resolvedAt) }),
    silenced,
    name: info.name,
    resolution: info.resolution,
    docsAnchor: docsAnchor(insight.code),
  });
}

function silenceMessage(s: Silence): InsightSilence {
  return create(InsightSilenceSchema, {
    code: s.code,
    ...(s.target ? { target: { ...s.target } } : {}),
    createdAt: timestampFromMs(s.createdAt),
    reason: s.reason,
  });
}

function checkCode(code: string): void {
  if (!code) throw new ConnectError("code is required", Code.InvalidArgument);
  if (!insightCodes.has(code)) {
    throw new ConnectError(`unknown insight code "${code}" (see docs/insights.md)`, Code.InvalidArgument);
  }
}

/** A silence's target: absent, or a kind and name at least. */
function targetOf(target: InsightTarget | undefined): Target | undefined {
  if (!target || (!target.kind && !target.name && !target.namespace)) return undefined;
  if (!target.kind || !target.name) {
    throw new ConnectError("target.kind and target.name are required when a target is given", Code.InvalidArgument);
  }
  return { kind: target.kind, namespace: target.namespace, name: target.name };
}

export async function listInsights(deps: InsightsDeps, request: ListInsightsRequest): Promise<ListInsightsResponse> {
  const silences = await deps.refreshSilences().catch(() => deps.silences);
  const t = request.target;
  const filter = {
    code: request.code,
    severity: request.severity,
    category: request.category,
    cluster: request.cluster,
    ...(t && (t.kind || t.namespace || t.name)
      ? { target: { kind: t.kind, name: t.name, ...(t.namespace ? { namespace: t.namespace } : {}) } }
      : {}),
  };
  const out: InsightMessage[] = [];
  for (const insight of deps.active()) {
    if (!matches(insight, filter)) continue;
    const silenced = isSilenced(insight, silences);
    if (silenced && !request.includeSilenced) continue;
    out.push(toMessage(insight, silenced));
  }
  if (request.includeResolved) {
    const history = await deps.history.list().catch((err: unknown) => {
      throw new ConnectError(`cannot read the insight history: ${(err as Error).message}`, Code.Unavailable);
    });
    for (const insight of history)
      if (matches(insight, filter)) out.push(toMessage(insight, isSilenced(insight, silences)));
  }
  return { $typeName: "gantry.api.v1.ListInsightsResponse", insights: out, silences: silences.map(silenceMessage) };
}

export async function silenceInsight(
  deps: InsightsDeps,
  request: SilenceInsightRequest,
  now: number,
): Promise<SilenceInsightResponse> {
  checkCode(request.code);
  const target = targetOf(request.target);
  const silence: Silence = {
    code: request.code,
    ...(target ? { target } : {}),
    createdAt: now,
    reason: request.reason,
  };
  await deps.silence(silence).catch((err: unknown) => {
    throw new ConnectError(`cannot store the silence: ${(err as Error).message}`, Code.Unavailable);
  });
  return { $typeName: "gantry.api.v1.SilenceInsightResponse", silence: silenceMessage(silence) };
}

export async function unsilenceInsight(
  deps: InsightsDeps,
  request: UnsilenceInsightRequest,
): Promise<UnsilenceInsightResponse> {
  checkCode(request.code);
  const removed = await deps.unsilence(request.code, targetOf(request.target)).catch((err: unknown) => {
    throw new ConnectError(`cannot remove the silence: ${(err as Error).message}`, Code.Unavailable);
  });
  return { $typeName: "gantry.api.v1.UnsilenceInsightResponse", removed };
}

/** The active insights with this resource among their targets, for `describe`. */
export function insightsOf(deps: InsightsDeps | undefined, target: Target): InsightMessage[] {
  if (!deps) return [];
  return deps
    .active()
    .filter((i) => matches(i, { target }))
    .map((i) => toMessage(i, isSilenced(i, deps.silences)));
}
