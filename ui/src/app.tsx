// The shell: sign-in gate, navigation, the live indicator and the page the fragment names.
import { useEffect, useState } from "preact/hooks";
import { signOut, signOutEverywhere, token, whenUnauthenticated } from "./api";
import { startLive, stopLive, useConnection } from "./live";
import { useSessionOutage } from "./outage";
import { Graph } from "./pages/graph";
import { Insights } from "./pages/insights";
import { Overview } from "./pages/overview";
import { Clusters, Proxies, ProxyPage } from "./pages/proxies";
import { ResourceDetail } from "./pages/resource";
import { Resources } from "./pages/resources";
import { SignIn } from "./pages/signin";
import { type Route, useRoute } from "./router";

const sections = [
  ["overview", "Overview"],
  ["resources", "Resources"],
  ["proxies", "Proxies"],
  ["graph", "Graph"],
  ["insights", "Insights"],
] as const;

function Page(props: { route: Route }) {
  const [section, a, b, c] = props.route.path;
  switch (section) {
    case "resources":
      return a && b && c ? (
        <ResourceDetail reference={{ kind: a, namespace: b, name: c }} />
      ) : (
        <Resources route={props.route} />
      );
    case "proxies":
      return a ? <ProxyPage nodeId={a} /> : <Proxies route={props.route} />;
    case "clusters":
      return <Clusters route={props.route} />;
    case "graph":
      return <Graph route={props.route} />;
    case "insights":
      return <Insights route={props.route} />;
    default:
      return <Overview />;
  }
}

function Live() {
  const state = useConnection();
  return (
    <span class={`live live-${state}`} role="status" aria-live="polite">
      {state === "live" ? "● live" : state === "connecting" ? "connecting…" : "reconnecting…"}
    </span>
  );
}

/** One banner for the whole page while the server cannot check sessions; the pages keep what they show. */
function SessionOutage() {
  if (!useSessionOutage()) return null;
  return (
    <aside class="banner" aria-label="Session check">
      <p role="alert">The management server cannot check sessions right now; retrying.</p>
    </aside>
  );
}

export function App() {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState(token() !== undefined);
  useEffect(() => {
    whenUnauthenticated(() => {
      signOut();
      stopLive();
      setSignedIn(false);
    });
  }, []);
  useEffect(() => {
    if (signedIn) startLive();
  }, [signedIn]);
  // Titles name the page, so screen readers and history say where one is.
  useEffect(() => {
    const name = sections.find(([key]) => key === route.path[0])?.[1] ?? (signedIn ? "Overview" : "Sign in");
    document.title = `${name} · Gantry`;
  }, [route, signedIn]);

  if (!signedIn || route.path[0] === "signin") {
    return (
      <>
        <SessionOutage />
        <SignIn
          route={route}
          onSignedIn={() => {
            setSignedIn(true);
            location.hash = "#/overview";
          }}
        />
      </>
    );
  }
  const current = route.path[0] ?? "overview";
  return (
    <>
      {/* A button, not a link: the fragment is the page's route. */}
      <button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
        Skip to content
      </button>
      <header>
        <span class="brand">Gantry</span>
        <nav aria-label="Sections">
          <ul>
            {sections.map(([key, label]) => (
              <li key={key}>
                <a href={`#/${key}`} aria-current={current === key ? "page" : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <Live />
        <button
          type="button"
          onClick={() => {
            void signOutEverywhere();
            stopLive();
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <SessionOutage />
      <Page route={route} />
    </>
  );
}
