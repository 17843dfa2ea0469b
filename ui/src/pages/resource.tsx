// One resource: status, what it selects and what selects it, the routes concerned, the proxies
// that have it and at which version, its insights, and its YAML (secret material redacted by the API).
import { stringify } from "yaml";
import { call, type Description, type Ref, refText } from "../api";
import { Badge, RefLink, RefList, Show, shortType, stateName, time, useLoad } from "../components";
import { useLive } from "../live";
import { Changes } from "./changes";
import { InsightRows } from "./insights";

export function ResourceDetail(props: { reference: Ref }) {
  const live = useLive("resources", "proxies", "insights");
  const { kind, namespace, name } = props.reference;
  const loaded = useLoad(() => call<Description>("Describe", { ref: props.reference }), [live, kind, namespace, name]);
  return (
    <main id="main" tabIndex={-1}>
      <p>
        <a href={`#/resources?kind=${encodeURIComponent(kind)}`}>← {kind} resources</a>
      </p>
      <h1>{refText(props.reference)}</h1>
      <Show loaded={loaded}>
        {(d) => {
          const destinations = new Map<string, Ref>();
          for (const route of d.routes ?? [])
            for (const dest of route.destinations ?? []) destinations.set(refText(dest), dest);
          return (
            <>
              <section aria-labelledby="status-heading">
                <h2 id="status-heading">Status</h2>
                <p>
                  <Badge value={stateName(d.resource.status?.state)} /> revision {d.resource.revision}, published
                  revision {d.publishedRevision}
                  {d.resource.status?.since && <> — since {time(d.resource.status.since)}</>}
                </p>
                {(d.resource.status?.messages ?? []).length > 0 && (
                  <ul class="conditions">
                    {d.resource.status?.messages?.map((m) => (
                      <li key={m}>{m}</li>
                    ))}
                  </ul>
                )}
              </section>
              <section aria-labelledby="relations-heading" class="relations">
                <h2 id="relations-heading">Selects and selected by</h2>
                <div class="columns">
                  <div>
                    <h3>Gateways</h3>
                    <RefList refs={d.gateways} />
                  </div>
                  <div>
                    <h3>Route tables</h3>
                    <RefList refs={d.routeTables} />
                  </div>
                  <div>
                    <h3>Policies</h3>
                    <RefList refs={d.policies} />
                  </div>
                  <div>
                    <h3>Destinations</h3>
                    <RefList refs={[...destinations.values()]} />
                  </div>
                </div>
                {(d.clusters ?? []).length > 0 && <p>Envoy clusters: {d.clusters?.join(", ")}</p>}
                {d.authConfigId && <p>Auth config id: {d.authConfigId}</p>}
                {d.rateLimitDomain && <p>Rate-limit domain: {d.rateLimitDomain}</p>}
              </section>
              <section aria-labelledby="routes-heading">
                <h2 id="routes-heading">Routes</h2>
                {(d.routes ?? []).length === 0 ? (
                  <p class="muted">none</p>
                ) : (
                  <table>
                    <caption class="visually-hidden">Routes</caption>
                    <thead>
                      <tr>
                        <th scope="col">route</th>
                        <th scope="col">gateway / listener</th>
                        <th scope="col">match</th>
                        <th scope="col">action</th>
                        <th scope="col">policies</th>
                      </tr>
                    </thead>
                    <tbody>
                      {d.routes?.map((r) => (
                        <tr key={`${r.name}@${r.listener}`}>
                          <td>{r.name}</td>
                          <td>
                            {r.gateway && <RefLink value={r.gateway} />} {r.listener}
                          </td>
                          <td>{r.match}</td>
                          <td>{r.action}</td>
                          <td>
                            {(r.policies ?? []).map((p) => (
                              <div key={refText(p.policy)}>
                                <RefLink value={p.policy} /> <span class="muted">{p.effect}</span>
                              </div>
                            ))}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </section>
              <section aria-labelledby="served-heading">
                <h2 id="served-heading">Proxies that have it</h2>
                {(d.envoyResources ?? []).length === 0 ? (
                  <p class="muted">No xDS resource is made from it, or no proxy subscribes.</p>
                ) : (
                  <table>
                    <caption class="visually-hidden">xDS resources made from it, per proxy</caption>
                    <thead>
                      <tr>
                        <th scope="col">xDS resource</th>
                        <th scope="col">version</th>
                        <th scope="col">proxy</th>
                        <th scope="col">state</th>
                        <th scope="col">proxy runs</th>
                        <th scope="col">error</th>
                      </tr>
                    </thead>
                    <tbody>
                      {d.envoyResources?.flatMap((e) =>
                        (e.clients ?? [{ nodeId: "", state: "" }]).map((c) => (
                          <tr key={`${e.typeUrl}/${e.name}/${c.nodeId}`}>
                            <td>
                              {shortType(e.typeUrl)} {e.name}
                            </td>
                            <td>
                              <code>{e.version}</code>
                            </td>
                            <td>
                              {c.nodeId ? <a href={`#/proxies/${encodeURIComponent(c.nodeId)}`}>{c.nodeId}</a> : "—"}
                            </td>
                            <td>{c.state && <Badge value={c.state} />}</td>
                            <td>
                              <code>{c.clientVersion}</code>
                            </td>
                            <td class="error-text">{c.error}</td>
                          </tr>
                        )),
                      )}
                    </tbody>
                  </table>
                )}
              </section>
              <section aria-labelledby="insights-heading">
                <h2 id="insights-heading">Insights</h2>
                <InsightRows insights={d.insights ?? []} />
              </section>
              <section aria-labelledby="changes-heading">
                <h2 id="changes-heading">Last changes</h2>
                <Changes reference={props.reference} live={live} />
              </section>
              <section aria-labelledby="yaml-heading">
                <h2 id="yaml-heading">YAML</h2>
                <pre class="yaml">{stringify(d.resource.document)}</pre>
              </section>
            </>
          );
        }}
      </Show>
    </main>
  );
}
