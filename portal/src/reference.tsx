// The API reference, rendered by Scalar (@scalar/api-reference) from our own bundle: the script is
// loaded only when a product page shows a reference, and nothing is fetched from elsewhere.
import { useEffect, useRef, useState } from "preact/hooks";

interface ScalarGlobal {
  createApiReference(element: Element, config: Record<string, unknown>): { destroy?: () => void };
}

let loading: Promise<ScalarGlobal> | undefined;

function loadScalar(): Promise<ScalarGlobal> {
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/assets/scalar/standalone.js";
    script.onload = () => {
      const scalar = (window as unknown as { Scalar?: ScalarGlobal }).Scalar;
      if (scalar) resolve(scalar);
      else reject(new Error("the reference renderer did not load"));
    };
    script.onerror = () => reject(new Error("the reference renderer could not be loaded"));
    document.head.append(script);
  });
  return loading;
}

/** The portal's primary colour (its branding), for the reference's accent. */
function accent(): string {
  return getComputedStyle(document.documentElement).getPropertyValue("--primary").trim() || "#1f5fbf";
}

export function ApiReference({ schemaUrl }: { schemaUrl: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string>();
  useEffect(() => {
    let instance: { destroy?: () => void } | undefined;
    let cancelled = false;
    loadScalar()
      .then((scalar) => {
        if (cancelled || !host.current) return;
        instance = scalar.createApiReference(host.current, {
          url: schemaUrl,
          // Offline: no web fonts, no proxy, no "try it" client, no agent or telemetry reaching out.
          // The reference documents the API; it sends no request: a "Test Request" from a developer's
          // browser would go straight to the upstream, past the gateway's keys and plans.
          withDefaultFonts: false,
          hideClientButton: true,
          hideTestRequestButton: true,
          hideDownloadButton: false,
          showDeveloperTools: "never",
          // Scalar's own layout (sidebar of operations, content column) in a full-width container of
          // its own: squeezed into the page's column, its content collapsed to a sliver.
          layout: "modern",
          showSidebar: true,
          // The portal is light; the reference follows it, in the portal's colour.
          forceDarkModeState: "light",
          hideDarkModeToggle: true,
          customCss: `.scalar-app { --scalar-color-accent: ${accent()}; }`,
          agent: { disabled: true },
          telemetry: false,
        });
      })
      .catch((err: Error) => setError(err.message));
    return () => {
      cancelled = true;
      instance?.destroy?.();
    };
  }, [schemaUrl]);
  return (
    <section aria-labelledby="reference-heading" class="reference">
      <h2 id="reference-heading" class="reference-heading">
        Reference
      </h2>
      {error ? <p role="alert">{error}</p> : null}
      <div ref={host} data-testid="api-reference" />
    </section>
  );
}
