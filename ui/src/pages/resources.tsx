// Resources: every kind in one table, filtered by text, kind, namespace, cluster, status and label;
// and an apply form (the API decides whether this caller's role may).
import { useState } from "preact/hooks";
import { parseAllDocuments } from "yaml";
import { ApiError, call, type Resource, refHref } from "../api";
import { Badge, ErrorBox, Filter, Show, stateName, useLoad } from "../components";
import { useLive } from "../live";
import { type Route, setQuery } from "../router";

function matchesLabel(resource: Resource, selector: string): boolean {
  if (selector === "") return true;
  const labels = resource.document.metadata?.labels ?? {};
  const eq = selector.indexOf("=");
  if (eq < 0) return selector in labels;
  return labels[selector.slice(0, eq).trim()] === selector.slice(eq + 1).trim();
}

export function Resources(props: { route: Route }) {
  const live = useLive("resources");
  const loaded = useLoad(() => call<{ resources?: Resource[] }>("List", {}), [live]);
  const q = props.route.query;
  const filter = {
    text: q.get("q") ?? "",
    kind: q.get("kind") ?? "",
    namespace: q.get("namespace") ?? "",
    cluster: q.get("cluster") ?? "",
    status: q.get("status") ?? "",
    label: q.get("label") ?? "",
  };
  const set = (changes: Record<string, string>) => setQuery(props.route, changes);
  return (
    <main id="main" tabIndex={-1}>
      <h1>Resources</h1>
      <Show loaded={loaded}>
        {({ resources = [] }) => {
          const values = (pick: (r: Resource) => string[]) => [...new Set(resources.flatMap(pick))].sort();
          const shown = resources.filter(
            (r) =>
              (!filter.text || `${r.ref.namespace}/${r.ref.name}`.includes(filter.text)) &&
              (!filter.kind || r.ref.kind === filter.kind) &&
              (!filter.namespace || (r.ref.namespace || "default") === filter.namespace) &&
              (!filter.cluster || (r.document.metadata?.clusters ?? []).includes(filter.cluster)) &&
              (!filter.status || stateName(r.status?.state) === filter.status) &&
              matchesLabel(r, filter.label),
          );
          return (
            <>
              <form class="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
                <span class="filter">
                  <label for="search">Search</label>
                  <input
                    id="search"
                    type="search"
                    value={filter.text}
                    placeholder="namespace/name"
                    onInput={(e) => set({ q: (e.target as HTMLInputElement).value })}
                  />
                </span>
                <Filter
                  label="Kind"
                  value={filter.kind}
                  values={values((r) => [r.ref.kind])}
                  onChange={(v) => set({ kind: v })}
                />
                <Filter
                  label="Namespace"
                  value={filter.namespace}
                  values={values((r) => [r.ref.namespace || "default"])}
                  onChange={(v) => set({ namespace: v })}
                />
                <Filter
                  label="Cluster"
                  value={filter.cluster}
                  values={values((r) => r.document.metadata?.clusters ?? [])}
                  onChange={(v) => set({ cluster: v })}
                />
                <Filter
                  label="Status"
                  value={filter.status}
                  values={["accepted", "warning", "invalid", "failed", "pending"]}
                  onChange={(v) => set({ status: v })}
                />
                <span class="filter">
                  <label for="label">Label</label>
                  <input
                    id="label"
                    value={filter.label}
                    placeholder="key=value"
                    onInput={(e) => set({ label: (e.target as HTMLInputElement).value })}
                  />
                </span>
              </form>
              <p class="muted" aria-live="polite">
                {shown.length} of {resources.length} resources
              </p>
              <table class="resources">
                <caption class="visually-hidden">Resources</caption>
                <thead>
                  <tr>
                    <th scope="col">kind</th>
                    <th scope="col">namespace</th>
                    <th scope="col">name</th>
                    <th scope="col">status</th>
                    <th scope="col">revision</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.slice(0, 500).map((r) => (
                    <tr key={`${r.ref.kind}/${r.ref.namespace}/${r.ref.name}`}>
                      <td>{r.ref.kind}</td>
                      <td>{r.ref.namespace || "default"}</td>
                      <td>
                        <a href={refHref(r.ref)}>{r.ref.name}</a>
                      </td>
                      <td>
                        <Badge value={stateName(r.status?.state)} />
                        {r.status?.messages?.[0] && <span class="message"> {r.status.messages[0]}</span>}
                      </td>
                      <td>{r.revision}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {shown.length > 500 && <p class="muted">The first 500 are shown: narrow the filters.</p>}
            </>
          );
        }}
      </Show>
      <ApplyForm />
    </main>
  );
}

/** YAML documents → Apply. The server checks everything (and the caller's role); errors show as it says them. */
function ApplyForm() {
  const [text, setText] = useState("");
  const [result, setResult] = useState<{ ok: boolean; message: string } | undefined>();
  const submit = async (dryRun: boolean) => {
    setResult(undefined);
    let documents: unknown[];
    try {
      documents = parseAllDocuments(text).map((d) => {
        if (d.errors.length > 0) throw new Error(d.errors[0]?.message ?? "invalid YAML");
        return d.toJS() as unknown;
      });
    } catch (err) {
      setResult({ ok: false, message: `not YAML: ${(err as Error).message}` });
      return;
    }
    try {
      const answer = await call<{
        results?: Array<{
          ref: { kind: string; name: string };
          action?: string;
          rejected?: boolean;
          status?: { messages?: string[] };
        }>;
      }>("Apply", { documents, dryRun });
      const lines = (answer.results ?? []).map(
        (r) =>
          `${r.ref.kind} ${r.ref.name}: ${r.rejected ? "rejected" : (r.action ?? "").toLowerCase()}${r.status?.messages?.length ? ` — ${r.status.messages.join("; ")}` : ""}`,
      );
      setResult({
        ok: !(answer.results ?? []).some((r) => r.rejected),
        message: `${dryRun ? "dry run: " : ""}${lines.join("\n")}`,
      });
    } catch (err) {
      setResult({ ok: false, message: err instanceof ApiError ? `${err.code}: ${err.message}` : String(err) });
    }
  };
  return (
    <section aria-labelledby="apply-heading" class="apply">
      <h2 id="apply-heading">Apply</h2>
      <label for="apply-yaml">YAML documents (gantry/v1)</label>
      <textarea
        id="apply-yaml"
        rows={8}
        value={text}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      <div class="actions">
        <button type="button" onClick={() => void submit(true)}>
          Dry run
        </button>
        <button type="button" onClick={() => void submit(false)}>
          Apply
        </button>
      </div>
      {result &&
        (result.ok ? (
          <pre class="ok" role="status">
            {result.message}
          </pre>
        ) : (
          <ErrorBox error={result.message} />
        ))}
    </section>
  );
}
