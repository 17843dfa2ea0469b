// The catalogue, product and plans pages.
import { useEffect, useState } from "preact/hooks";
import { type Api, apiPath, type Me, type Plan, portalApi } from "./api.js";
import { limitsText } from "./limits.js";
import { ApiReference } from "./reference.js";

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { value?: T; error?: string; reload: () => void } {
  const [state, setState] = useState<{ value?: T; error?: string }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load()
      .then((value) => live && setState({ value }))
      .catch((err: Error) => live && setState({ error: err.message }));
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export const productHref = (id: string) => `/apis/${id}`;

export function Catalogue() {
  const apis = useLoad(portalApi.apis, []);
  if (apis.error) return <p role="alert">{apis.error}</p>;
  if (!apis.value) return <p>Loading…</p>;
  return (
    <>
      <h1>APIs</h1>
      {apis.value.length === 0 ? <p>No API is published for you yet.</p> : null}
      <ul class="cards">
        {apis.value.map((api) => (
          <li key={api.id} class="card">
            <h2>
              <a href={productHref(api.id)}>{api.title}</a>
            </h2>
            <p class="muted">
              {api.id} · version {api.version || "—"}
            </p>
            <p>{api.description}</p>
          </li>
        ))}
      </ul>
    </>
  );
}

function PlanTable({ plans }: { plans: Plan[] }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Plan</th>
          <th scope="col">Limits per key</th>
          <th scope="col">Approval</th>
        </tr>
      </thead>
      <tbody>
        {plans.map((plan) => (
          <tr key={plan.id}>
            <th scope="row">
              {plan.title}
              <div class="muted">{plan.description}</div>
            </th>
            <td>{limitsText(plan.limits)}</td>
            <td>{plan.approvalRequired ? "required" : "automatic"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Product({ id, me }: { id: string; me: Me | undefined }) {
  const api = useLoad<Api>(() => portalApi.api(id), [id]);
  const plans = useLoad(portalApi.plans, []);
  if (api.error || !api.value)
    return <div class="page">{api.error ? <p role="alert">{api.error}</p> : <p>Loading…</p>}</div>;
  const offered = (plans.value ?? []).filter((p) => api.value?.plans.includes(p.id));
  return (
    <>
      <div class="page">
        <h1>
          {api.value.title} <span class="muted">{api.value.version}</span>
        </h1>
        <p>{api.value.description}</p>
        <h2>Plans</h2>
        <PlanTable plans={offered} />
        <p>
          {me?.signedIn ? (
            <a class="button" href={`/apps?product=${encodeURIComponent(id)}`}>
              Create an app for this API
            </a>
          ) : (
            <a class="button" href={`/login?return=${encodeURIComponent(location.pathname)}`} data-reload>
              Sign in to get a key
            </a>
          )}
        </p>
      </div>
      <ApiReference schemaUrl={`/portal/v1/apis/${apiPath(id)}/schema`} />
    </>
  );
}

export function Plans() {
  const plans = useLoad(portalApi.plans, []);
  if (plans.error) return <p role="alert">{plans.error}</p>;
  if (!plans.value) return <p>Loading…</p>;
  return (
    <>
      <h1>Usage plans</h1>
      <PlanTable plans={plans.value} />
    </>
  );
}
