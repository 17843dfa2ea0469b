// Overview: one cheap `Overview` call (counts only) for the numbers, and the data-plane rates
// (Prometheus, possibly slow) beside it without holding the page. Every count links to its list.
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, type DataPlaneRates } from "../api";
import { Show, useLoad } from "../components";
import { useLive } from "../live";

interface KindCounts {
  kind: string;
  total?: number;
  accepted?: number;
  warning?: number;
  invalid?: number;
  failed?: number;
  pending?: number;
}

/** `Overview`'s answer as proto3 JSON (zeros left out). */
interface Counts {
  proxies?: { connected?: number; inSync?: number; pending?: number; nacking?: number };
  /** Absent without a relay (--relay-port). */
  clusters?: { registered?: number; connected?: number; stale?: number };
  insights?: { error?: number; warning?: number; info?: number; redis?: number };
  resources?: KindCounts[];
}

const loadCounts = () => call<Counts>("Overview", {});

/** Undefined without --prometheus-url; a string when Prometheus did not answer. */
async function loadRates(): Promise<DataPlaneRates | string | undefined> {
  return call<DataPlaneRates>("DataPlaneRates", {}).catch((err: unknown) => {
    if (err instanceof ApiError && err.code === "failed_precondition") return undefined;
    return err instanceof ApiError ? err.message : String(err);
  });
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
const severities = [
  ["error", "ERROR", "bad"],
  ["warning", "WARNING", "warn"],
  ["info", "INFO", undefined],
] as const;

/** The data-plane rates are a Prometheus query: read every half minute, not on every live change. */
const ratesEveryMs = 30_000;

function useTick(everyMs: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return tick;
}

export function Overview() {
  const live = useLive("resources", "proxies", "insights");
  const loaded = useLoad(loadCounts, [live]);
  const rates = useLoad(loadRates, [useTick(ratesEveryMs)]);
  return (
    <main id="main" tabIndex={-1}>
      <h1>Overview</h1>
      <Show loaded={loaded}>
        {(c) => {
          const p = c.proxies ?? {};
          const i = c.insights ?? {};
          return (
            <>
              <section aria-labelledby="proxies-heading">
                <h2 id="proxies-heading">Proxies</h2>
                <div class="stats">
                  <Stat label="connected" value={p.connected ?? 0} href="#/proxies" />
                  <Stat label="in sync" value={p.inSync ?? 0} href="#/proxies?state=in-sync" />
                  <Stat label="pending" value={p.pending ?? 0} href="#/proxies?state=pending" tone="warn" />
                  <Stat label="NACKing" value={p.nacking ?? 0} href="#/proxies?state=nacking" tone="bad" />
                </div>
              </section>
              <section aria-labelledby="clusters-heading">
                <h2 id="clusters-heading">Workload clusters</h2>
                {c.clusters === undefined ? (
                  <p class="muted">This server runs no relay (--relay-port): no workload clusters.</p>
                ) : (
                  <div class="stats">
                    <Stat label="registered" value={c.clusters.registered ?? 0} href="#/clusters" />
                    <Stat label="connected" value={c.clusters.connected ?? 0} href="#/clusters?state=connected" />
                    <Stat label="stale" value={c.clusters.stale ?? 0} href="#/clusters?state=stale" tone="warn" />
                  </div>
                )}
              </section>
              <section aria-labelledby="rates-heading">
                <h2 id="rates-heading">Data plane decisions</h2>
                {rates.kind === "ready" ? (
                  <Rates rates={rates.value} />
                ) : (
                  <p class="muted" aria-busy={rates.kind === "loading"}>
                    {rates.kind === "loading" ? "Reading Prometheus…" : `Prometheus: ${rates.error.message}`}
                  </p>
                )}
              </section>
              <section aria-labelledby="insights-heading">
                <h2 id="insights-heading">Insights</h2>
                <div class="stats">
                  {severities.map(([key, severity, tone]) => (
                    <Stat
                      key={key}
                      label={key}
                      value={i[key] ?? 0}
                      href={`#/insights?severity=${severity}`}
                      tone={tone}
                    />
                  ))}
                  <Stat label="Redis problems" value={i.redis ?? 0} href="#/insights?q=Redis" tone="bad" />
                </div>
                <p class="muted">
                  Redis:{" "}
                  {(i.redis ?? 0) === 0 ? (
                    "healthy (no Redis insight active)"
                  ) : (
                    <a href="#/insights?q=Redis">see the Redis insights</a>
                  )}
                </p>
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
                    {(c.resources ?? []).map((k) => (
                      <tr key={k.kind}>
                        <th scope="row">{k.kind}</th>
                        <td>
                          <a href={`#/resources?kind=${k.kind}`}>{k.total ?? 0}</a>
                        </td>
                        {states.map((s) => (
                          <td key={s}>
                            <a href={`#/resources?kind=${k.kind}&status=${s}`}>{k[s] ?? 0}</a>
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
