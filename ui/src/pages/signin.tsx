// Sign-in: the API token (kept in this tab's sessionStorage), or OIDC through the server's login,
// which comes back here with a sealed session in the fragment.
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, signIn, signOut } from "../api";
import { ErrorBox } from "../components";
import type { Route } from "../router";

export function SignIn(props: { route: Route; onSignedIn: () => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | undefined>(props.route.query.get("error") ?? undefined);
  const [oidc, setOidc] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    fetch("/ui/config.json")
      .then((r) => r.json() as Promise<{ oidc?: boolean }>)
      .then((config) => setOidc(config.oidc === true))
      .catch(() => setOidc(false));
  }, []);

  const tryToken = async (candidate: string) => {
    setBusy(true);
    signIn(candidate);
    try {
      // Any read proves the token; the cheapest one.
      await call("ListInsights", { severity: "ERROR" });
      props.onSignedIn();
    } catch (err) {
      // Only a refused token is a failed sign-in; any other answer (a server without insights) proves it.
      if (err instanceof ApiError && err.code !== "unauthenticated" && err.code !== "resource_exhausted") {
        props.onSignedIn();
        return;
      }
      signOut();
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    const session = props.route.query.get("session");
    if (session) {
      // Out of the address bar and history before anything else.
      history.replaceState(null, "", "#/signin");
      void tryToken(session);
    }
  }, []);

  return (
    <main id="main" tabIndex={-1} class="signin">
      <h1>Sign in to Gantry</h1>
      {error && <ErrorBox error={error} />}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void tryToken(value.trim());
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit" disabled={busy}>
          Sign in with token
        </button>
      </form>
      {oidc && (
        <p>
          <a class="button" href="/ui/oidc/login">
            Sign in with OIDC
          </a>
        </p>
      )}
      <p class="muted">
        The token is the server's API token (GANTRY_API_TOKEN) or one of its --api-tokens-file; it stays in this tab
        only.
      </p>
    </main>
  );
}
