// Administrators: subscriptions waiting for approval, and every API's status and OpenAPI findings.
import { type AdminApi, portalApi } from "./api.js";
import { useLoad } from "./pages.js";

/**
 * The management server's status and this portal's own reading of the document, once each: both
 * check the same document (the status names coverage warnings under `spec.openapi`).
 */
function findings(api: AdminApi): string[] {
  const own = [...api.openapi.problems, ...api.openapi.warnings.map((w) => `spec.openapi: ${w}`)];
  return [...new Set([...(api.status?.messages ?? []), ...own])];
}

export function Admin() {
  const subs = useLoad(portalApi.subscriptions, []);
  const apis = useLoad(portalApi.adminApis, []);
  if (subs.error) return <p role="alert">{subs.error}</p>;
  const pending = (subs.value ?? []).filter((s) => s.state === "pending");
  return (
    <>
      <h1>Administration</h1>
      <h2>Subscriptions awaiting approval</h2>
      {pending.length === 0 ? <p>None.</p> : null}
      <ul>
        {pending.map((s) => (
          <li key={s.id}>
            {s.name} by {s.ownerEmail || s.owner}: {s.product}, plan {s.plan}{" "}
            <button type="button" onClick={() => portalApi.approve(s.id).then(subs.reload)}>
              Approve
            </button>
          </li>
        ))}
      </ul>
      <h2>APIs</h2>
      <ul class="cards">
        {(apis.value ?? []).map((api) => (
          <li key={api.id} class="card">
            <h3>{api.title}</h3>
            <p class="muted">
              {api.id} · {api.published ? `published (${api.published.visibility.toLowerCase()})` : "not published"} ·{" "}
              {api.status?.state ?? "status unknown"}
            </p>
            <ul>
              {findings(api).map((m) => (
                <li key={m}>{m}</li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </>
  );
}
