// "My apps": create an app for a plan, its keys (created and rotated keys are shown once), usage.
import { useState } from "preact/hooks";
import { type App, portalApi } from "./api.js";
import { UsageChart } from "./chart.js";
import { useLoad } from "./pages.js";

function NewSecret({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div class="secret" role="status">
      <p>
        <strong>Your new key</strong> — copy it now; it is not shown again:
      </p>
      <code data-testid="new-key">{secret}</code>
      <button type="button" onClick={onDone}>
        I have stored it
      </button>
    </div>
  );
}

function AppCard({ app, onChange }: { app: App; onChange: () => void }) {
  const [secret, setSecret] = useState<string>();
  const [error, setError] = useState<string>();
  const usage = useLoad(() => portalApi.usage(app.id), [app.id, app.keys.length]);
  const act = (work: () => Promise<unknown>) =>
    work()
      .then(() => {
        setError(undefined);
        onChange();
      })
      .catch((err: Error) => setError(err.message));
  return (
    <li class="card" data-testid={`app-${app.name}`}>
      <h2>{app.name}</h2>
      <p class="muted">
        {app.product} · plan {app.plan} · {app.state === "pending" ? "awaiting approval" : "approved"}
      </p>
      {error ? <p role="alert">{error}</p> : null}
      {secret ? <NewSecret secret={secret} onDone={() => setSecret(undefined)} /> : null}
      <table>
        <caption>Keys</caption>
        <thead>
          <tr>
            <th scope="col">Key id</th>
            <th scope="col">Created</th>
            <th scope="col">Status</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {app.keys.map((key) => (
            <tr key={key.id}>
              <td>
                <code>{key.id}</code>
              </td>
              <td>{new Date(key.createdAt).toLocaleString()}</td>
              <td>
                {key.expiresAt ? `rotated, works until ${new Date(key.expiresAt).toLocaleTimeString()}` : "active"}
              </td>
              <td>
                {key.expiresAt ? null : (
                  <button
                    type="button"
                    onClick={() => act(() => portalApi.rotateKey(app.id, key.id).then((r) => setSecret(r.secret)))}
                  >
                    Rotate
                  </button>
                )}{" "}
                <button type="button" class="danger" onClick={() => act(() => portalApi.revokeKey(app.id, key.id))}>
                  Revoke
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button
        type="button"
        disabled={app.state !== "approved"}
        onClick={() => act(() => portalApi.createKey(app.id).then((r) => setSecret(r.secret)))}
      >
        Create key
      </button>
      <h3>Usage</h3>
      {(usage.value?.keys ?? []).map((k) => (
        <div key={k.id}>
          <p class="muted">
            Key <code>{k.id}</code>: {k.requests} requests, {k.rejected} rejected in total
          </p>
          <UsageChart points={k.points} label={`usage of key ${k.id}`} />
        </div>
      ))}
    </li>
  );
}

export function Apps() {
  const apps = useLoad(portalApi.apps, []);
  const apis = useLoad(portalApi.apis, []);
  const plans = useLoad(portalApi.plans, []);
  const preset = new URLSearchParams(location.search).get("product") ?? "";
  const [name, setName] = useState("");
  const [product, setProduct] = useState(preset);
  const [plan, setPlan] = useState("");
  const [error, setError] = useState<string>();
  const chosen = apis.value?.find((a) => a.id === product);
  const offered = (plans.value ?? []).filter((p) => chosen?.plans.includes(p.id));
  const submit = (event: Event) => {
    event.preventDefault();
    portalApi
      .createApp(name, product, plan || offered[0]?.id || "")
      .then(() => {
        setName("");
        setError(undefined);
        apps.reload();
      })
      .catch((err: Error) => setError(err.message));
  };
  if (apps.error) return <p role="alert">{apps.error}</p>;
  return (
    <>
      <h1>My apps</h1>
      <form onSubmit={submit} class="card" aria-label="New app">
        <h2>New app</h2>
        <label>
          Name{" "}
          <input name="name" required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          API{" "}
          <select
            name="product"
            required
            value={product}
            onChange={(e) => setProduct((e.target as HTMLSelectElement).value)}
          >
            <option value="">Choose an API</option>
            {(apis.value ?? []).map((a) => (
              <option key={a.id} value={a.id}>
                {a.title}
              </option>
            ))}
          </select>
        </label>
        <label>
          Plan{" "}
          <select name="plan" value={plan} onChange={(e) => setPlan((e.target as HTMLSelectElement).value)}>
            {offered.map((p) => (
              <option key={p.id} value={p.id}>
                {p.title}
                {p.approvalRequired ? " (needs approval)" : ""}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Create app</button>
        {error ? <p role="alert">{error}</p> : null}
      </form>
      <ul class="cards">
        {(apps.value ?? []).map((app) => (
          <AppCard key={app.id} app={app} onChange={apps.reload} />
        ))}
      </ul>
    </>
  );
}
