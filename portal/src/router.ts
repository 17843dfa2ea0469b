// Client-side navigation with the History API: links stay real <a href> (keyboard, middle-click).
import { useEffect, useState } from "preact/hooks";

export function navigate(path: string): void {
  history.pushState(null, "", path);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);
  return path;
}

/** Same-origin link clicks navigate in place; modified clicks keep the browser's behaviour. */
export function onLinkClick(event: MouseEvent): void {
  const target = (event.target as Element | null)?.closest("a");
  if (!target || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(target.href, location.href);
  if (url.origin !== location.origin || target.hasAttribute("data-reload")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}
