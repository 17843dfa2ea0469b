// The developer portal's pages: catalogue, product (with its API reference), plans, my apps, admin.
import { render } from "preact";
import { useEffect } from "preact/hooks";
import { Admin } from "./admin.js";
import { type Branding, type Me, portalApi } from "./api.js";
import { Apps } from "./apps.js";
import { Catalogue, Plans, Product, useLoad } from "./pages.js";
import { onLinkClick, usePath } from "./router.js";

function applyBranding(branding: Branding | undefined): void {
  if (!branding) return;
  document.title = branding.title;
  document.documentElement.style.setProperty("--primary", branding.primaryColor);
  document.documentElement.style.setProperty("--background", branding.backgroundColor);
}

function Page({ path }: { path: string }) {
  const me = useLoad(portalApi.me, []);
  const product = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
  // The product page lays out its own: its API reference needs the full width, outside `.page`.
  if (product)
    return (
      <Product id={`${decodeURIComponent(product[1] ?? "")}/${decodeURIComponent(product[2] ?? "")}`} me={me.value} />
    );
  return (
    <div class="page">
      <PageContent path={path} me={me.value} />
    </div>
  );
}

function PageContent({ path, me }: { path: string; me: Me | undefined }) {
  if (path === "/plans") return <Plans />;
  if (path === "/apps") {
    if (me && !me.signedIn) {
      return (
        <p>
          <a href="/login?return=/apps" data-reload>
            Sign in
          </a>{" "}
          to see your apps.
        </p>
      );
    }
    return me ? <Apps /> : <p>Loading…</p>;
  }
  if (path === "/admin") return <Admin />;
  return <Catalogue />;
}

function Shell() {
  const path = usePath();
  const portal = useLoad(portalApi.portal, []);
  const me = useLoad(portalApi.me, [path]);
  useEffect(() => applyBranding(portal.value?.branding), [portal.value]);
  useEffect(() => {
    document.addEventListener("click", onLinkClick);
    return () => document.removeEventListener("click", onLinkClick);
  }, []);
  const branding = portal.value?.branding;
  return (
    <div>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="site-header">
        <a href="/" class="brand">
          {branding?.logoUrl ? <img src={branding.logoUrl} alt="" height={32} /> : null}
          <span>{branding?.title ?? "Developer portal"}</span>
        </a>
        <nav aria-label="Main">
          <a href="/" aria-current={path === "/" ? "page" : undefined}>
            APIs
          </a>
          <a href="/plans" aria-current={path === "/plans" ? "page" : undefined}>
            Plans
          </a>
          <a href="/apps" aria-current={path === "/apps" ? "page" : undefined}>
            My apps
          </a>
          {me.value?.admin ? <a href="/admin">Admin</a> : null}
          {me.value?.signedIn ? (
            <>
              <span class="who" data-testid="signed-in-as">
                {me.value.email || me.value.id}
              </span>
              <a href="/logout" data-reload>
                Sign out
              </a>
            </>
          ) : (
            <a href={`/login?return=${encodeURIComponent(path)}`} data-reload>
              Sign in
            </a>
          )}
        </nav>
      </header>
      <main id="main" class="site-main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </div>
  );
}

const root = document.getElementById("app");
if (root) render(<Shell />, root);
