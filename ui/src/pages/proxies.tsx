// Proxies: every client connected to this replica with its ACK state; one proxy with every
// resource it subscribes to (ACK / NACK / pending, the NACK error) and the config it is served.
import { type Cluster, call, type ProxyClient, type ProxyDetail } from "../api";
import { Badge, Filter, Show, shortType, time, useLoad } from "../components";
import { useLive } from "../live";
import { type Route, setQuery } from "../router";

function stateOf(p: ProxyClient): string {
  if ((p.nacked ?? 0) > 0) return "nacking";
  if ((p.pending ?? 0) > 0) return "pending";
  return "in-sync";
}

export function Proxies(props: { route: Route }) {
  const live = useLive("proxies");
  const loaded = useLoad(() => call<{ clients?: ProxyClient[] }>("ListProxies", {}), [live]);
  const state = props.route.query.get("state") ?? "";
  const text = props.route.query.get("q") ?? "";
  return (
    <main id="main" tabIndex={-1}>
      <h1>Proxies</h1>
      <form class="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <span class="filter">
          <label for="proxy-search">Search</label>
          <input
            id="proxy-search"
            type="search"
            value={text}
            onInput={(e) => setQuery(props.route, { q: (e.target as HTMLInputElement).value })}
          />
        </span>
        <Filter
          label="State"
          value={state}
          values={["in-sync", "pending", "nacking"]}
          onChange={(v) => setQuery(props.route, { state: v })}
        />
      </form>
      <Show loaded={loaded}>
        {({ clients = [] }) => {
          const shown = clients.filter((p) => (!state || stateOf(p) === state) && (!text || p.nodeId.includes(text)));
          return (
            <table>
              <caption class="visually-hidden">Connected proxies</caption>
              <thead>
                <tr>
                  <th scope="col">node</th>
                  <th scope="col">state</th>
                  <th scope="col">in sync</th>
                  <th scope="col">pending</th>
                  <th scope="col">NACKed</th>
                  <th scope="col">streams</th>
                  <th scope="col">last NACK</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((p) => (
                  <tr key={p.nodeId}>
                    <td>
                      <a href={`#/proxies/${encodeURIComponent(p.nodeId)}`}>{p.nodeId}</a>
                    </td>
                    <td>
                      <Badge value={stateOf(p)} />
                    </td>
                    <td>{p.inSync ?? 0}</td>
                    <td>{p.pending ?? 0}</td>
                    <td>{p.nacked ?? 0}</td>
                    <td>{(p.streams ?? []).join(", ")}</td>
                    <td class="error-text">
                      {p.lastNackError} {p.lastNackTime && <span class="muted">({time(p.lastNackTime)})</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Show>
    </main>
  );
}

export function ProxyPage(props: { nodeId: string }) {
  const live = useLive("proxies", "resources");
  const loaded = useLoad(() => call<ProxyDetail>("DescribeProxy", { nodeId: props.nodeId }), [live, props.nodeId]);
  return (
    <main id="main" tabIndex={-1}>
      <p>
        <a href="#/proxies">← proxies</a>
      </p>
      <h1>Proxy {props.nodeId}</h1>
      <Show loaded={loaded}>
        {(p) => (
          <>
            <p>
              Streams: {(p.streams ?? []).join(", ")}
              {p.lastNackError && (
                <>
                  {" "}
                  — last NACK: <span class="error-text">{p.lastNackError}</span> ({time(p.lastNackTime)})
                </>
              )}
            </p>
            <section aria-labelledby="resources-heading">
              <h2 id="resources-heading">Resources</h2>
              <table>
                <caption class="visually-hidden">Resources this proxy subscribes to</caption>
                <thead>
                  <tr>
                    <th scope="col">type</th>
                    <th scope="col">name</th>
                    <th scope="col">state</th>
                    <th scope="col">served</th>
                    <th scope="col">runs</th>
                    <th scope="col">error</th>
                  </tr>
                </thead>
                <tbody>
                  {(p.resources ?? []).map((r) => (
                    <tr key={`${r.typeUrl}/${r.name}`}>
                      <td>{shortType(r.typeUrl)}</td>
                      <td>{r.name}</td>
                      <td>
                        <Badge value={r.state} />
                      </td>
                      <td>
                        <code>{r.version}</code>
                      </td>
                      <td>
                        <code>{r.clientVersion}</code>
                      </td>
                      <td class="error-text">{r.error}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
            <section aria-labelledby="config-heading">
              <h2 id="config-heading">Configuration sent (JSON)</h2>
              <details>
                <summary>{(p.config ?? []).length} xDS resources</summary>
                <pre class="json">{JSON.stringify(p.config ?? [], null, 2)}</pre>
              </details>
            </section>
            <section aria-labelledby="metadata-heading">
              <h2 id="metadata-heading">Node metadata</h2>
              <pre class="json">{JSON.stringify(p.metadata ?? {}, null, 2)}</pre>
            </section>
          </>
        )}
      </Show>
    </main>
  );
}

export function Clusters(props: { route: Route }) {
  const live = useLive("proxies");
  const loaded = useLoad(() => call<{ clusters?: Cluster[] }>("ListClusters", {}), [live]);
  const state = props.route.query.get("state") ?? "";
  return (
    <main id="main" tabIndex={-1}>
      <h1>Workload clusters</h1>
      <Show loaded={loaded}>
        {({ clusters = [] }) => (
          <table>
            <caption class="visually-hidden">Workload clusters</caption>
            <thead>
              <tr>
                <th scope="col">name</th>
                <th scope="col">state</th>
                <th scope="col">connected</th>
                <th scope="col">stale</th>
                <th scope="col">last seen</th>
                <th scope="col">resources</th>
                <th scope="col">proxies</th>
              </tr>
            </thead>
            <tbody>
              {clusters
                .filter((c) => !state || (state === "connected" ? c.connected : state === "stale" ? c.stale : true))
                .map((c) => (
                  <tr key={c.name}>
                    <td>{c.name}</td>
                    <td>{c.state}</td>
                    <td>{c.connected ? "yes" : "no"}</td>
                    <td>{c.stale ? "yes" : "no"}</td>
                    <td>{time(c.lastSeen)}</td>
                    <td>{c.resources ?? 0}</td>
                    <td>{c.proxies ?? 0}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        )}
      </Show>
    </main>
  );
}
