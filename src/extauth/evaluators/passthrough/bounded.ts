/** Rejects as soon as the check is cancelled, whatever the call underneath is still doing. */
export function bounded<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error("the check was cancelled"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error("the check was cancelled"));
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
