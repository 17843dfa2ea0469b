// Graph: gateways → route tables → destinations → clusters, policies as overlays. The drawing is
// cytoscape in a lazily loaded chunk; a select lists every node for keyboards and screen readers,
// and the side panel follows a route table to its routes and their policies.
import { useEffect, useRef, useState } from "preact/hooks";
import { call, type Description, type Resource, refHref } from "../api";
import { RefLink, Show, useLoad } from "../components";
import { type GraphModel, graphModel } from "../graph-model";
import type { GraphView } from "../graph-view";
import { useLive } from "../live";
import { type Route, setQuery } from "../router";

async function loadModel(): Promise<GraphModel> {
  const { resources = [] } = await call<{ resources?: Resource[] }>("List", {});
  const gateways = await Promise.all(
    resources.filter((r) => r.ref.kind === "Gateway").map((r) => call<Description>("Describe", { ref: r.ref })),
  );
  return graphModel(gateways, resources);
}

export function Graph(props: { route: Route }) {
  const live = useLive("resources");
  const loaded = useLoad(loadModel, [live]);
  return (
    <main id="main" tabIndex={-1} class="graph-page">
      <h1>Graph</h1>
      <Show loaded={loaded}>{(model) => <GraphCanvas model={model} route={props.route} />}</Show>
    </main>
  );
}

function GraphCanvas(props: { model: GraphModel; route: Route }) {
  const container = useRef<HTMLDivElement>(null);
  const view = useRef<GraphView | undefined>(undefined);
  const [renderMs, setRenderMs] = useState<number | undefined>();
  const selected = props.route.query.get("node") ?? "";
  const select = (id: string) => setQuery(props.route, { node: id });
  useEffect(() => {
    let cancelled = false;
    const started = performance.now();
    void import("../graph-view").then(({ renderGraph }) => {
      if (cancelled || !container.current) return;
      view.current = renderGraph(container.current, props.model, select);
      const elapsed = Math.round(performance.now() - started);
      setRenderMs(elapsed);
      container.current.dataset["rendered"] = String(props.model.nodes.length);
      if (selected) view.current.select(selected);
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
  const node = props.model.nodes.find((n) => n.id === selected);
  const routes = props.model.routes.get(selected) ?? [];
  return (
    <div class="graph-layout">
      <div>
        <p class="muted" aria-live="polite">
          {props.model.nodes.length} nodes, {props.model.edges.length} edges
          {renderMs !== undefined && `, drawn in ${renderMs} ms`}. Solid: traffic; dashed: policies.
        </p>
        <div
          ref={container}
          class="graph"
          role="img"
          aria-label="Graph of gateways, route tables, destinations, clusters and policies"
        />
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
