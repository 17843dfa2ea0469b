// A session the server cannot check right now: the management Redis holding the sign-outs (or the
// OpenID provider, for an ID token) does not answer, and the API's gate answers 503 with
// `gantry-auth: unavailable` before serving anything. That says nothing against the session, so the
// user stays signed in: one banner says what is happening, calls wait instead of failing, and a
// single probe asks again with back-off until the session can be checked.
import { useEffect, useState } from "preact/hooks";

/** An answer of the gate that could not check the session (not a method's own UNAVAILABLE). */
export function isSessionOutage(response: Response): boolean {
  return response.status === 503 && response.headers.get("gantry-auth") === "unavailable";
}

/** Asks once whether sessions can be checked again; true when the gate answered anything else. */
export type Probe = () => Promise<boolean>;

const firstRetryMs = 500;
const mostRetryMs = 5_000;

let recovered: Promise<void> | undefined;
let resolveRecovered: () => void = () => {};
const listeners = new Set<() => void>();

function notify(): void {
  for (const listener of listeners) listener();
}

/** Whether the banner shows. */
export function inSessionOutage(): boolean {
  return recovered !== undefined;
}

/** An answer passed the session check: the outage, if any, is over. */
export function sessionsCheckable(): void {
  if (!recovered) return;
  recovered = undefined;
  resolveRecovered();
  notify();
}

/**
 * Starts (or joins) the outage: resolves once sessions can be checked again, found by one probe
 * for every caller, retried with back-off, or by any other answer that passes the check.
 */
export function untilSessionsCheckable(probe: Probe): Promise<void> {
  if (recovered) return recovered;
  const current = new Promise<void>((resolve) => {
    resolveRecovered = () => resolve();
  });
  recovered = current;
  notify();
  void (async () => {
    for (let delayMs = firstRetryMs; recovered === current; delayMs = Math.min(delayMs * 2, mostRetryMs)) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (recovered !== current) return;
      if (await probe().catch(() => false)) sessionsCheckable();
    }
  })();
  return current;
}

export function useSessionOutage(): boolean {
  const [outage, setOutage] = useState(inSessionOutage());
  useEffect(() => {
    const listener = () => setOutage(inSessionOutage());
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return outage;
}
