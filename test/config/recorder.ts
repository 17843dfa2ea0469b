import type { ConfigProvider, ConfigSnapshot } from "../../src/config/index.js";

/** A subscriber that keeps what it was told, and refuses configs `refuse` picks. */
export interface Recorder<T> {
  readonly snapshots: Array<ConfigSnapshot<T>>;
  readonly errors: Error[];
}

export function record<T>(provider: ConfigProvider<T>, refuse: (config: T) => boolean = () => false): Recorder<T> {
  const recorder: Recorder<T> = { snapshots: [], errors: [] };
  provider.subscribe({
    update: async (snapshot) => {
      if (refuse(snapshot.config)) throw new Error(`refused ${snapshot.version}`);
      recorder.snapshots.push(snapshot);
    },
    error: (error) => recorder.errors.push(error),
  });
  return recorder;
}
