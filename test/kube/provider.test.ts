// KubeResourcesProvider against a scripted API: the set it offers (parsed, or refused with the
// loader's messages), its versions, and a refused set offered again.
import { describe, expect, it } from "vitest";
import type { ConfigSnapshot } from "../../src/config/index.js";
import type { KubeObject } from "../../src/kube/objects.js";
import { type KubeResourceSet, KubeResourcesProvider } from "../../src/kube/provider.js";
import type { KubeApi, KubeList, WatchEvent } from "../../src/kubernetes/index.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });
const destinations = "/apis/gantry.dev/v1/destinations";

const destination = (name: string, rv: string, spec: unknown): KubeObject => ({
  apiVersion: "gantry.dev/v1",
  kind: "Destination",
  metadata: { name, namespace: "shop", uid: `uid-${name}`, resourceVersion: rv, generation: Number(rv) },
  spec,
});
const goodSpec = { ports: [{ number: 80 }], endpoints: [{ address: "10.0.0.1", port: 80 }] };

function world(listed: KubeObject[]) {
  const watchers = new Map<string, (event: WatchEvent<KubeObject>) => void>();
  const api: KubeApi = {
    server: "https://scripted",
    list: async <T>(path: string) =>
      ({ items: path === destinations ? listed : [], metadata: { resourceVersion: "1" } }) as unknown as KubeList<T>,
    watch: <T>(path: string, _rv: string, onEvent: (event: WatchEvent<T>) => void, args?: { signal?: AbortSignal }) =>
      new Promise<void>((_, reject) => {
        watchers.set(path, onEvent as unknown as (event: WatchEvent<KubeObject>) => void);
        args?.signal?.addEventListener("abort", () => reject(new Error("aborted")));
      }),
    request: async () => {
      throw new Error("the provider only reads");
    },
  };
  const clock = new ManualClock();
  const provider = new KubeResourcesProvider({ api, timers: clock, logger });
  const taken: ConfigSnapshot<KubeResourceSet>[] = [];
  let refuse = 0;
  provider.subscribe({
    update: async (snapshot) => {
      if (refuse > 0) {
        refuse -= 1;
        throw new Error("store away");
      }
      taken.push(snapshot);
    },
    error: () => undefined,
  });
  const emit = (event: WatchEvent<KubeObject>) => watchers.get(destinations)?.(event);
  return { provider, taken, emit, clock, refuseNext: (n: number) => (refuse = n) };
}

describe("KubeResourcesProvider", () => {
  it("offers the whole set once every kind is listed, each object parsed or refused with the loader's messages", async () => {
    const { provider, taken } = world([destination("a", "1", goodSpec), destination("b", "2", { ports: "eighty" })]);
    await provider.start();
    expect(taken).toHaveLength(1);
    const set = taken[0]?.config;
    expect([...(set?.keys() ?? [])].sort()).toEqual(["Destination/shop/a", "Destination/shop/b"]);
    const a = set?.get("Destination/shop/a");
    expect(a).toMatchObject({ kind: "Destination", namespace: "shop", name: "a", uid: "uid-a", generation: 1 });
    expect(a?.parsed && "resource" in a.parsed ? a.parsed.resource.metadata.name : undefined).toBe("a");
    const b = set?.get("Destination/shop/b")?.parsed;
    expect(b && "invalid" in b ? b.invalid.join("\n") : "").toContain(
      "Destination shop/b: spec.ports: expected a list",
    );
    expect(provider.current()?.version).toBe(taken[0]?.version);
    await provider.stop();
  });

  it("offers a new version on each change, and the set without an object deleted", async () => {
    const { provider, taken, emit } = world([destination("a", "1", goodSpec)]);
    await provider.start();
    emit({ type: "ADDED", object: destination("c", "3", goodSpec) });
    await waitFor(() => taken.length === 2, { what: "the set with c" });
    emit({ type: "DELETED", object: destination("a", "4", goodSpec) });
    await waitFor(() => taken.length === 3, { what: "the set without a" });
    expect([...(taken[2]?.config.keys() ?? [])]).toEqual(["Destination/shop/c"]);
    expect(new Set(taken.map((s) => s.version)).size).toBe(3);
    await provider.stop();
  });

  it("offers a refused set again a second later, with what changed meanwhile", async () => {
    const { provider, taken, emit, clock, refuseNext } = world([destination("a", "1", goodSpec)]);
    await provider.start();
    refuseNext(1);
    const timers = clock.pendingTimers;
    emit({ type: "ADDED", object: destination("c", "3", goodSpec) });
    emit({ type: "ADDED", object: destination("d", "4", goodSpec) });
    // Refused once: nothing taken until the retry.
    await waitFor(() => clock.pendingTimers > timers, { what: "the retry timer" });
    expect(taken).toHaveLength(1);
    clock.advance(1_000);
    await waitFor(() => taken.length === 2, { what: "the set offered again" });
    expect([...(taken[1]?.config.keys() ?? [])].sort()).toEqual([
      "Destination/shop/a",
      "Destination/shop/c",
      "Destination/shop/d",
    ]);
    await provider.stop();
  });
});
