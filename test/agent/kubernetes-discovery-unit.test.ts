// KubernetesDiscovery's timing, with a scripted apiserver: no set is offered until every collection
// is listed (a partial set would tell the server that Destinations are gone), a missing CRD counts
// as none, and a change after that is offered at once.
import { describe, expect, it } from "vitest";
import { KubernetesDiscovery } from "../../src/agent/index.js";
import type { KubeApi, KubeList, WatchEvent } from "../../src/kubernetes/index.js";
import { KubeApiError } from "../../src/kubernetes/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });

/** Lists answer when the test releases them; watches stay open until the test emits into them. */
class PausedApi implements KubeApi {
  readonly server = "https://paused";
  readonly #release = new Map<string, (list: KubeList<unknown> | Error) => void>();
  readonly #watchers = new Map<string, (event: WatchEvent<unknown>) => void>();

  async request<T>(): Promise<T> {
    throw new Error("not used");
  }

  list<T>(path: string): Promise<KubeList<T>> {
    return new Promise((resolve, reject) => {
      this.#release.set(path, (answer) => (answer instanceof Error ? reject(answer) : resolve(answer as KubeList<T>)));
    });
  }

  watch<T>(path: string, _rv: string, onEvent: (event: WatchEvent<T>) => void, args: { signal?: AbortSignal } = {}) {
    this.#watchers.set(path, onEvent as (event: WatchEvent<unknown>) => void);
    return new Promise<void>((_resolve, reject) =>
      args.signal?.addEventListener("abort", () => reject(new Error("aborted"))),
    );
  }

  listed(path: string) {
    return this.#release.has(path);
  }

  answer(path: string, answer: KubeList<unknown> | Error) {
    this.#release.get(path)?.(answer);
  }

  emit(path: string, event: WatchEvent<unknown>) {
    this.#watchers.get(path)?.(event);
  }
}

const service = (name: string, rv: string) => ({
  metadata: { name, namespace: "shop", resourceVersion: rv },
  spec: { ports: [{ port: 80 }] },
});

describe("KubernetesDiscovery", () => {
  it("offers nothing until every collection is listed, then each change at once", async () => {
    const api = new PausedApi();
    const discovery = new KubernetesDiscovery({ api, logger });
    const offered: string[][] = [];
    discovery.subscribe({
      update: async (snapshot) => {
        offered.push([...snapshot.config.keys()]);
      },
      error: () => {},
    });
    await discovery.start();
    try {
      await waitFor(() => api.listed("/api/v1/services") && api.listed("/apis/gantry.dev/v1/destinations"));
      api.answer("/api/v1/services", { metadata: { resourceVersion: "5" }, items: [service("cart", "5")] });
      api.answer("/apis/discovery.k8s.io/v1/endpointslices", { metadata: { resourceVersion: "5" }, items: [] });
      api.answer("/api/v1/pods", { metadata: { resourceVersion: "5" }, items: [] });
      await waitFor(() => api.listed("/api/v1/services") && discovery.counts["services"]?.watches === 1);
      expect(offered).toEqual([]);
      expect(discovery.current()).toBeUndefined();

      // The CRD is not installed in this cluster: its Destinations are none, and the set goes up.
      api.answer("/apis/gantry.dev/v1/destinations", new KubeApiError("not found", 404, "NotFound"));
      await waitFor(() => offered.length === 1, { what: "the first set" });
      expect(offered[0]).toEqual(["Destination/shop/cart"]);

      api.emit("/api/v1/services", { type: "ADDED", object: service("web", "6") as never });
      await waitFor(() => offered.length === 2, { timeoutMs: 1_000, what: "the change" });
      expect(offered[1]).toEqual(["Destination/shop/cart", "Destination/shop/web"]);
    } finally {
      await discovery.stop();
    }
  });
});
