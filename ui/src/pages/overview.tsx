// Overview: every count links to the list behind it.
import {
  ApiError,
  type Cluster,
  call,
  type DataPlaneRates,
  type Insight,
  type ProxyClient,
  type Resource,
} from "../api";
import { Show, stateName, useLoad } from "../components";
import { useLive } from "../live";

interface Counts {
  resources: Resource[];
  clients: ProxyClient[];
  insights: Insight[];
  clusters: Cluster[] | undefined;
  /** Undefined without --prometheus-url; a string when Prometheus did not answer. */
  rates: DataPlaneRates | string | undefined;
}

async function loadCounts(): Promise<Counts> {
  const [list, proxies, insights, clusters, rates] = await Promise.all([
    call<{ resources?: Resource[] }>("List", {}),
    call<{ clients?: ProxyClient[] }>("ListProxies", {}),
    call<{ insights?: Insight[] }>("ListInsights", {}),
    // A server without the relay has no workload clusters to list.
    call<{ clusters?: Cluster[] }>("ListClusters", {}).catch((err: unknown) => {
      if (err instanceof ApiError && err.code === "failed_precondition") return undefined;
      throw err;
    }),
    call<DataPlaneRates>("DataPlaneRates", {}).catch((err: unknown) => {
      if (err instanceof ApiError && err.code === "failed_precondition") return undefined;
      return err instanceof ApiError ? err.message : String(err);
    }),
  ]);
  return {
    resources: list.resources ?? [],
    clients: proxies.clients ?? [],
    insights: (insights.insights ?? []).filter((i) => !i.silenced),
    clusters: clusters?.clusters,
    rates,
  };
}

function Stat(props: { label: string; value: number; href: string; tone?: "bad" | "warn" | undefined }) {
  return (
    <a class={`stat ${props.value > 0 && props.tone ? `stat-${props.tone}` : ""}`} href={props.href}>
      <span class="stat-value">{props.value}</span>
      <span class="stat-label">{props.label}</span>
    </a>
  );
}

const perSecond = (count: number | undefined, windowSeconds: number) =>
  `${((count ?? 0) / Math.max(windowSeconds, 1)).toFixed(2)}/s`;
const share = (part: number | undefined, total: number | undefined) =>
  total ? `${(((part ?? 0) / total) * 100).toFixed(1)}%` : "—";

function Rates(props: { rates: DataPlaneRates | string | undefined }) {
  const { rates } = props;
  if (rates === undefined) {
    return <p class="muted">Start the server with --prometheus-url to see ext-auth and rate-limit decisions.</p>;
  }
  if (typeof rates === "string") return <p class="error-text">Prometheus: {rates}</p>;
  const window = rates.windowSeconds ?? 300;
  return (
    <dl class="rates">
      <div>
        <dt>ext-auth checks</dt>
        <dd>
          {rates.extAuth
            ? `${perSecond(rates.extAuth.total, window)}, denied ${share(rates.extAuth.denied, rates.extAuth.total)}, errors ${share(rates.extAuth.errors, rates.extAuth.total)}`
            : "no series"}{" "}
          <a href="#/insights?q=ExtAuth">insights</a>
        </dd>
      </div>
      <div>
        <dt>rate-limit decisions</dt>
        <dd>
          {rates.rateLimit
            ? `${perSecond(rates.rateLimit.total, window)}, over limit ${share(rates.rateLimit.overLimit, rates.rateLimit.total)}, Redis errors ${rates.rateLimit.redisErrors ?? 0}`
            : "no series"}{" "}
          <a href="#/insights?q=RateLimit">insights</a>
        </dd>
      </div>
      <div>
        <dt>window</dt>
        <dd>last {Math.round(window / 60)} min</dd>
      </div>
    </dl>
  );
}

const states = ["accepted", "warning", "invalid", "failed", "pending"] as const;

export function Overview() {
  const live = useLive("resources", "proxies", "insights");
  const loaded = useLoad(loadCounts, [live]);
  return (
    <main id="main" tabIndex={-1}>
      <h1>Overview</h1>
      <Show loaded={loaded}>
        {(c) => {
          const kinds = [...new Set(c.resources.map((r) => r.ref.kind))].sort();
          const byKindState = (kind: string, state: string) =>
            c.resources.filter((r) => r.ref.kind === kind && stateName(r.status?.state) === state).length;
          const severities = ["ERROR", "WARNING", "INFO"] as const;
          const redis = c.insights.filter((i) => (i.name ?? "").startsWith("Redis"));
          return (
            <>
              <section aria-labelledby="proxies-heading">
                <h2 id="proxies-heading">Proxies</h2>
                <div class="stats">
                  <Stat label="connected" value={c.clients.length} href="#/proxies" />
                  <Stat
                    label="in sync"
                    value={c.clients.filter((p) => !p.nacked && !p.pending).length}
                    href="#/proxies?state=in-sync"
                  />
                  <Stat
                    label="pending"
                    value={c.clients.filter((p) => !p.nacked && (p.pending ?? 0) > 0).length}
                    href="#/proxies?state=pending"
                    tone="warn"
                  />
                  <Stat
                    label="NACKing"
                    value={c.clients.filter((p) => (p.nacked ?? 0) > 0).length}
                    href="#/proxies?state=nacking"
                    tone="bad"
                  />
                </div>
              </section>
              <section aria-labelledby="clusters-heading">
                <h2 id="clusters-heading">Workload clusters</h2>
                {c.clusters === undefined ? (
                  <p class="muted">This server runs no relay (--relay-port): no workload clusters.</p>
                ) : (
                  <div class="stats">
                    <Stat label="registered" value={c.clusters.length} href="#/clusters" />
                    <Stat
                      label="connected"
                      value={c.clusters.filter((x) => x.connected).length}
                      href="#/clusters?state=connected"
                    />
                    <Stat
                      label="stale"
                      value={c.clusters.filter((x) => x.stale).length}
                      href="#/clusters?state=stale"
                      tone="warn"
                    />
                  </div>
                )}
              </section>
              <section aria-labelledby="rates-heading">
                <h2 id="rates-heading">Data plane decisions</h2>
                <Rates rates={c.rates} />
              </section>
              <section aria-labelledby="insights-heading">
                <h2 id="insights-heading">Insights</h2>
                <div class="stats">
                  {severities.map((s) => (
                    <Stat
                      key={s}
                      label={s.toLowerCase()}
                      value={c.insights.filter((i) => i.severity === s).length}
                      href={`#/insights?severity=${s}`}
                      tone={s === "ERROR" ? "bad" : s === "WARNING" ? "warn" : undefined}
                    />
                  ))}
                  <Stat label="Redis problems" value={redis.length} href="#/insights?q=Redis" tone="bad" />
                </div>
              </section>
              <section aria-labelledby="resources-heading">
                <h2 id="resources-heading">Resources</h2>
                <table>
                  <caption class="visually-hidden">Resources by kind and status</caption>
                  <thead>
                    <tr>
                      <th scope="col">kind</th>
                      <th scope="col">total</th>
                      {states.map((s) => (
                        <th scope="col" key={s}>
                          {s}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {kinds.map((kind) => (
                      <tr key={kind}>
                        <th scope="row">{kind}</th>
                        <td>
                          <a href={`#/resources?kind=${kind}`}>
                            {c.resources.filter((r) => r.ref.kind === kind).length}
                          </a>
                        </td>
                        {states.map((s) => (
                          <td key={s}>
                            <a href={`#/resources?kind=${kind}&status=${s}`}>{byKindState(kind, s)}</a>
                          </td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </section>
            </>
          );
        }}
      </Show>
    </main>
  );
}
