/**
 * Runs a long-lived service until SIGINT or SIGTERM, then stops it once. A second signal while
 * stopping exits at once, for an operator who does not want to wait for the drain.
 */
export function stopOnSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`gantry: ${signal} again, exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      stop().then(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        resolve();
      }, reject);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/** Runs until SIGINT or SIGTERM, then stops each of `parts` in order (undefined ones are skipped). */
export function stopAllOnSignal(...parts: Array<{ stop(): Promise<void> } | undefined>): Promise<void> {
  return stopOnSignal(async () => {
    for (const part of parts) await part?.stop();
  });
}
