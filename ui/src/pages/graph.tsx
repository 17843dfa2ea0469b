// Graph: gateways → route tables → destinations → clusters, policies as overlays. One `Graph`
// call gives it whole; the drawing is cytoscape in a lazily loaded chunk; a select lists every node
// for keyboards and screen readers, and the side panel follows a route table to its routes and
// their policies. With Prometheus on the server, `GraphRates` labels the edges every few seconds.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, call, refHref } from "../api";
import { RefLink, Show, useLoad } from "../components";
import { type GraphModel, type GraphRatesResponse, type GraphResponse, graphModel, rateLabel } from "../graph-model";
import type { GraphView } from "../graph-view";
import { useLive } from "../live";
import { type Route, setQuery } from "../router";

type ViewChunk = typeof import("../graph-view");
let viewChunk: Promise<ViewChunk> | undefined;

/** The drawing's chunk, loaded once; a failed load is tried again next time. */
function loadView(): Promise<ViewChunk> {
  viewChunk ??= import("../graph-view").catch((err: unknown) => {
    viewChunk = undefined;
    throw err;
  });
  return viewChunk;
}

async function loadModel(): Promise<GraphModel> {
  // The chunk is fetched and parsed while the server answers, not after.
  loadView().catch(() => {}); // GraphCanvas asks again and shows a failure
  return graphModel(await call<GraphResponse>("Graph", {}));
}

/** How often the edge rates are read again (the server's rate window is a minute). */
const ratesEveryMs = 5_000;

type Rates = { kind: "off" } | { kind: "unreachable"; message: string } | { kind: "ready"; rates: GraphRatesResponse };

/** The edge rates, read now and every few seconds while the page is open. */
function useRates(live: number): Rates | undefined {
  const [rates, setRates] = useState<Rates | undefined>();
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const read = async () => {
      try {
        const answer = await call<GraphRatesResponse>("GraphRates", {});
        if (!stopped) setRates({ kind: "ready", rates: answer });
      } catch (err) {
        if (stopped) return;
        if (err instanceof ApiError && err.code === "failed_precondition") {
          setRates({ kind: "off" });
          return; // no Prometheus: nothing to poll
        }
        setRates({ kind: "unreachable", message: err instanceof Error ? err.message : String(err) });
      }
      if (!stopped) timer = setTimeout(() => void read(), ratesEveryMs);
    };
    void read();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [live]);
  return rates;
}

export function Graph(props: { route: Route }) {
  const live = useLive("resources");
  const loaded = useLoad(loadModel, [live]);
  const rates = useRates(live);
  return (
    <main id="main" tabIndex={-1} class="graph-page">
      <h1>Graph</h1>
      <Show loaded={loaded}>{(model) => <GraphCanvas model={model} route={props.route} rates={rates} />}</Show>
    </main>
  );
}

function RatesNote(props: { rates: Rates | undefined }) {
  const { rates } = props;
  if (rates === undefined) return null;
  if (rates.kind === "off") {
    return <p class="muted">Start the server with --prometheus-url to see request rates on the edges.</p>;
  }
  if (rates.kind === "unreachable") {
    return (
      <p class="error-text" role="status">
        Edge rates: {rates.message}
      </p>
    );
  }
  return null;
}

function RatesTable(props: { model: GraphModel; rates: GraphRatesResponse }) {
  const edges = props.rates.edges ?? [];
  const edgeOf = new Map(props.model.edges.map((e) => [e.id, e]));
  return (
    <section aria-labelledby="rates-heading">
      <h2 id="rates-heading">Edge rates</h2>
      {edges.length === 0 ? (
        <p class="muted">No series for these edges in the last {props.rates.windowSeconds ?? 60} s.</p>
      ) : (
        <table class="edge-rates">
          <caption class="visually-hidden">Requests per second and error ratio per edge</caption>
          <thead>
            <tr>
              <th scope="col">from</th>
              <th scope="col">to</th>
              <th scope="col">rate</th>
            </tr>
          </thead>
          <tbody>
            {edges.map((r) => {
              const edge = edgeOf.get(r.edge);
              return (
                <tr key={r.edge}>
                  <td>{edge ? edge.source : r.edge}</td>
                  <td>{edge ? edge.target : ""}</td>
                  <td>{rateLabel(r)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function GraphCanvas(props: { model: GraphModel; route: Route; rates: Rates | undefined }) {
  const container = useRef<HTMLDivElement>(null);
  const view = useRef<GraphView | undefined>(undefined);
  const [renderMs, setRenderMs] = useState<number | undefined>();
  const [drawError, setDrawError] = useState<string | undefined>();
  const selected = props.route.query.get("node") ?? "";
  const select = (id: string) => setQuery(props.route, { node: id });
  useEffect(() => {
    let cancelled = false;
    const started = performance.now();
    loadView()
      .then(({ renderGraph }) => {
        if (cancelled || !container.current) return;
        view.current = renderGraph(container.current, props.model, select);
        const elapsed = Math.round(performance.now() - started);
        setRenderMs(elapsed);
        setDrawError(undefined);
        container.current.dataset["rendered"] = String(props.model.nodes.length);
        if (selected) view.current.select(selected);
      })
      .catch((err: unknown) => {
        if (!cancelled) setDrawError(err instanceof Error ? err.message : String(err));
      });
    return () => {
      cancelled = true;
      view.current?.destroy();
      view.current = undefined;
    };
  }, [props.model]);
  useEffect(() => {
    if (selected) view.current?.select(selected);
  }, [selected]);
  const shownRates = props.rates?.kind === "ready" ? props.rates.rates : undefined;
  // Drawn once the view exists (its chunk loads lazily) and whenever new rates arrive.
  useEffect(() => {
    if (!view.current || !container.current) return;
    view.current.showRates(shownRates ?? {});
    container.current.dataset["rated"] = String(shownRates?.edges?.length ?? 0);
  }, [shownRates, renderMs, props.model]);
  const node = props.model.nodes.find((n) => n.id === selected);
  const routes = props.model.routes.get(selected) ?? [];
  return (
    <div class="graph-layout">
      <div>
        <p class="muted" aria-live="polite">
          {props.model.nodes.length} nodes, {props.model.edges.length} edges
          {renderMs !== undefined && `, drawn in ${renderMs} ms`}. Solid: traffic; dashed: policies.
        </p>
        <RatesNote rates={props.rates} />
        {drawError !== undefined && (
          <p class="error-text" role="alert">
            The graph could not be drawn: {drawError}. The node list below still works; reload to try again.
          </p>
        )}
        <div
          ref={container}
          class="graph"
          role="img"
          aria-label="Graph of gateways, route tables, destinations, clusters and policies"
        />
        {shownRates && <RatesTable model={props.model} rates={shownRates} />}
      </div>
      <aside aria-labelledby="node-heading">
        <h2 id="node-heading">Node</h2>
        <label for="node-select">Select a node</label>
        <select id="node-select" value={selected} onChange={(e) => select((e.target as HTMLSelectElement).value)}>
          <option value="">—</option>
          {props.model.nodes.map((n) => (
            <option key={n.id} value={n.id}>
              {n.kind}: {n.label}
            </option>
          ))}
        </select>
        {node && (
          <div class="panel">
            <p>
              <strong>{node.kind}</strong> {node.ref ? <a href={refHref(node.ref)}>{node.label}</a> : node.label}
              {node.overlay && <span class="muted"> ({node.overlay})</span>}
            </p>
            {routes.length > 0 && (
              <>
                <h3>Routes</h3>
                <ul class="routes">
                  {routes.map((r) => (
                    <li key={r.name}>
                      <p>
                        <strong>{r.name}</strong> {r.match} → {r.action}
                      </p>
                      {(r.policies ?? []).length > 0 ? (
                        <ul>
                          {r.policies?.map((p) => (
                            <li key={`${p.policy.kind}/${p.policy.name}`}>
                              <RefLink value={p.policy} /> <span class="muted">{p.effect}</span>
                            </li>
                          ))}
                        </ul>
                      ) : (
                        <p class="muted">no policies</p>
                      )}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>
        )}
      </aside>
    </div>
  );
}
