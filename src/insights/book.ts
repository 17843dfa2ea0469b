// The active insights: each analyzer source reports its whole set of findings; what is new gets a
// first-seen time, what is still there a new last-seen time, and what is gone is resolved and
// moves to the history. Silences hide insights from the metric and from default listings; they
// never stop analysis, so an unsilenced insight shows its true first-seen time.
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { codeInfo, summarize } from "./codes.js";
import type { InsightHistory, Silence } from "./history.js";
import { type Finding, type Insight, type Target, targetKey } from "./types.js";

export function insightId(finding: Finding): string {
  const primary = finding.targets[0];
  return [finding.code, finding.cluster ?? "", primary ? targetKey(primary) : "", finding.subject ?? ""].join("|");
}

export function isSilenced(insight: Insight, silences: readonly Silence[]): boolean {
  return silences.some(
    (s) =>
      s.code === insight.code &&
      (s.target === undefined || insight.targets.some((t) => targetKey(t) === targetKey(s.target as Target))),
  );
}

export interface InsightFilter {
  readonly code?: string;
  readonly severity?: string;
  readonly category?: string;
  readonly cluster?: string;
  /** Any of its targets. */
  readonly target?: Partial<Target>;
}

export function matches(insight: Insight, filter: InsightFilter): boolean {
  const t = filter.target;
  return (
    (!filter.code || insight.code === filter.code) &&
    (!filter.severity || insight.severity === filter.severity) &&
    (!filter.category || insight.category === filter.category) &&
    (!filter.cluster || insight.cluster === filter.cluster) &&
    (!t ||
      insight.targets.some(
        (x) =>
          (!t.kind || x.kind === t.kind) &&
          (t.namespace === undefined || x.namespace === t.namespace) &&
          (!t.name || x.name === t.name),
      ))
  );
}

export class InsightBook {
  readonly #sources = new Map<string, Map<string, Insight>>();
  /** The silences as last read from the history store; refreshed by `refreshSilences`. */
  #silences: readonly Silence[] = [];
  /** Resolved insights on their way to the history store (writes are async; the report is not). */
  #writes: Promise<void> = Promise.resolve();
  /** Told when an insight appears or resolves, or the silences change (the dashboard's live view). */
  readonly #listeners = new Set<() => void>();

  constructor(
    private readonly clock: Clock,
    readonly history: InsightHistory,
    private readonly logger?: Logger,
  ) {}

  /** Replaces what `source` found with `findings`. */
  report(source: string, findings: readonly Finding[]): void {
    const now = this.clock.now();
    const before = this.#sources.get(source) ?? new Map<string, Insight>();
    const next = new Map<string, Insight>();
    for (const finding of findings) {
      const id = insightId(finding);
      if (next.has(id)) continue;
      const info = codeInfo(finding.code);
      const previous = before.get(id);
      next.set(id, {
        id,
        code: finding.code,
        severity: info.severity,
        category: info.category,
        summary: summarize(finding.code, finding.args),
        targets: finding.targets,
        cluster: finding.cluster ?? "",
        subject: finding.subject ?? "",
        evidence: finding.evidence,
        firstSeen: previous?.firstSeen ?? now,
        lastSeen: now,
      });
    }
    for (const [id, insight] of before) {
      if (next.has(id)) continue;
      const resolved = { ...insight, resolvedAt: now };
      this.#writes = this.#writes
        .then(() => this.history.append(resolved))
        .catch((err: unknown) => this.logger?.warn({ err, id }, "cannot keep a resolved insight in the history"));
    }
    this.#sources.set(source, next);
    if (next.size !== before.size || [...next.keys()].some((id) => !before.has(id))) this.#changed();
  }

  /** Calls `listener` after each change to the active insights or the silences; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Every active insight, silenced or not, sorted by severity (worst first), then id. */
  active(): Insight[] {
    const rank = { ERROR: 0, WARNING: 1, INFO: 2 } as const;
    return [...this.#sources.values()]
      .flatMap((m) => [...m.values()])
      .sort((a, b) => rank[a.severity] - rank[b.severity] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get silences(): readonly Silence[] {
    return this.#silences;
  }

  async refreshSilences(): Promise<readonly Silence[]> {
    const before = this.#silences;
    this.#silences = await this.history.silences();
    if (JSON.stringify(before) !== JSON.stringify(this.#silences)) this.#changed();
    return this.#silences;
  }

  async silence(silence: Silence): Promise<void> {
    codeInfo(silence.code);
    await this.history.addSilence(silence);
    await this.refreshSilences();
  }

  async unsilence(code: string, target: Target | undefined): Promise<boolean> {
    const removed = await this.history.removeSilence(code, target);
    await this.refreshSilences();
    return removed;
  }

  /** Resolves once every resolved insight reported so far is in the history store (or failed). */
  flushed(): Promise<void> {
    return this.#writes;
  }
}
