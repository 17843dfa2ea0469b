// Insights: severity, what was found, evidence, how to resolve it; silence and unsilence.
import { useState } from "preact/hooks";
import { ApiError, call, type Insight, type Silence } from "../api";
import { Badge, ErrorBox, Filter, RefLink, Show, time, useLoad } from "../components";
import { useLive } from "../live";
import { type Route, setQuery } from "../router";

/** The first resource (or proxy) target: a silence made here covers this code on it. */
function targetOf(insight: Insight) {
  return insight.targets?.[0];
}

export function InsightRows(props: { insights: Insight[]; silences?: Silence[] }) {
  const [error, setError] = useState<string | undefined>();
  if (props.insights.length === 0) return <p class="muted">No insights.</p>;
  const act = async (method: "SilenceInsight" | "UnsilenceInsight", insight: Insight) => {
    setError(undefined);
    const target = targetOf(insight);
    try {
      await call(method, {
        code: insight.code,
        ...(target ? { target } : {}),
        ...(method === "SilenceInsight" ? { reason: "silenced from the dashboard" } : {}),
      });
    } catch (err) {
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    }
  };
  return (
    <>
      {error && <ErrorBox error={error} />}
      <ul class="insights">
        {props.insights.map((i) => (
          <li key={i.id} class={`insight insight-${i.severity.toLowerCase()}`}>
            <p>
              <Badge value={i.severity} /> <strong>{i.code}</strong> {i.name} {i.silenced && <Badge value="silenced" />}
              {i.resolvedAt && <Badge value="resolved" />}
            </p>
            <p>{i.summary}</p>
            {(i.targets ?? []).length > 0 && (
              <p>
                Targets:{" "}
                {i.targets?.map((t) =>
                  t.kind === "Proxy" ? (
                    <a key={t.name} href={`#/proxies/${encodeURIComponent(t.name)}`}>
                      Proxy {t.name}{" "}
                    </a>
                  ) : (
                    <span key={`${t.kind}/${t.namespace}/${t.name}`}>
                      <RefLink value={t} />{" "}
                    </span>
                  ),
                )}
              </p>
            )}
            {i.evidence && Object.keys(i.evidence).length > 0 && (
              <details>
                <summary>Evidence</summary>
                <dl>
                  {Object.entries(i.evidence).map(([k, v]) => (
                    <div key={k}>
                      <dt>{k}</dt>
                      <dd>{v}</dd>
                    </div>
                  ))}
                </dl>
              </details>
            )}
            {i.resolution && <p class="resolution">Resolution: {i.resolution}</p>}
            <p class="muted">
              first seen {time(i.firstSeen)}, last seen {time(i.lastSeen)}
              {i.resolvedAt && `, resolved ${time(i.resolvedAt)}`}
            </p>
            {!i.resolvedAt && (
              <button
                type="button"
                onClick={() => void act(i.silenced ? "UnsilenceInsight" : "SilenceInsight", i)}
                aria-label={`${i.silenced ? "Unsilence" : "Silence"} ${i.code} ${i.summary}`}
              >
                {i.silenced ? "Unsilence" : "Silence"}
              </button>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

export function Insights(props: { route: Route }) {
  const live = useLive("insights");
  const q = props.route.query;
  const severity = q.get("severity") ?? "";
  const text = q.get("q") ?? "";
  const showResolved = q.get("resolved") === "1";
  const loaded = useLoad(
    () =>
      call<{ insights?: Insight[]; silences?: Silence[] }>("ListInsights", {
        includeSilenced: true,
        includeResolved: showResolved,
        ...(severity ? { severity } : {}),
      }),
    [live, severity, showResolved],
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>Insights</h1>
      <form class="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <Filter
          label="Severity"
          value={severity}
          values={["ERROR", "WARNING", "INFO"]}
          onChange={(v) => setQuery(props.route, { severity: v })}
        />
        <span class="filter">
          <label for="insight-search">Search</label>
          <input
            id="insight-search"
            type="search"
            value={text}
            onInput={(e) => setQuery(props.route, { q: (e.target as HTMLInputElement).value })}
          />
        </span>
        <span class="filter">
          <input
            id="show-resolved"
            type="checkbox"
            checked={showResolved}
            onChange={(e) => setQuery(props.route, { resolved: (e.target as HTMLInputElement).checked ? "1" : "" })}
          />
          <label for="show-resolved">Show resolved</label>
        </span>
      </form>
      <Show loaded={loaded}>
        {({ insights = [], silences = [] }) => {
          const needle = text.toLowerCase();
          const shown = insights.filter(
            (i) => !needle || `${i.code} ${i.name} ${i.summary}`.toLowerCase().includes(needle),
          );
          return (
            <>
              <InsightRows insights={shown} />
              <h2>Silences</h2>
              {silences.length === 0 ? (
                <p class="muted">none</p>
              ) : (
                <ul>
                  {silences.map((s) => (
                    <li key={`${s.code}/${s.target?.kind}/${s.target?.name}`}>
                      {s.code}{" "}
                      {s.target ? `on ${s.target.kind} ${s.target.namespace ?? ""}/${s.target.name}` : "everywhere"}{" "}
                      <span class="muted">{s.reason}</span>
                    </li>
                  ))}
                </ul>
              )}
            </>
          );
        }}
      </Show>
    </main>
  );
}
