// KubeSource against a scripted API: what it stores, what it keeps when an object is refused, and
// when it writes a status (only once translated that far, only when it differs).
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/kube/objects.js";
import { KubeSource } from "../../src/kube/source.js";
import type { KubeApi, KubeList, WatchEvent } from "../../src/kubernetes/index.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { DesiredState } from "../../src/server/desired-state.js";
import type { ResourceKey } from "../../src/store/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { State, type Status } from "../../src/translate/index.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });

const destination = (rv: string, generation: number, spec: unknown): KubeObject => ({
  apiVersion: "gantry.dev/v1",
  kind: "Destination",
  metadata: { name: "a", namespace: "shop", uid: "uid-a", resourceVersion: rv, generation },
  spec,
});
const goodSpec = { ports: [{ number: 80 }], endpoints: [{ address: "10.0.0.1", port: 80 }] };

/** A Lease holder the test elects by hand. */
function manualLeadership() {
  const listeners = new Set<(leading: boolean) => void>();
  const leadership = {
    isLeader: false,
    onChange(listener: (leading: boolean) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(leading: boolean) {
      leadership.isLeader = leading;
      for (const listener of listeners) listener(leading);
    },
  };
  return leadership;
}

function world(leadership?: ReturnType<typeof manualLeadership>) {
  const lists = new Map<string, KubeObject[]>([["/apis/gantry.dev/v1/destinations", [destination("1", 1, goodSpec)]]]);
  const watchers = new Map<string, (event: WatchEvent<KubeObject>) => void>();
  const patches: Array<{
    path: string;
    body: { status: { state: string; conditions: Array<Record<string, unknown>> } };
  }> = [];
  const api: KubeApi = {
    server: "https://scripted",
    list: async <T>(path: string) =>
      ({ items: lists.get(path) ?? [], metadata: { resourceVersion: "1" } }) as unknown as KubeList<T>,
    watch: <T>(path: string, _rv: string, onEvent: (event: WatchEvent<T>) => void, args?: { signal?: AbortSignal }) =>
      new Promise<void>((_, reject) => {
        watchers.set(path, onEvent as unknown as (event: WatchEvent<KubeObject>) => void);
        args?.signal?.addEventListener("abort", () => reject(new Error("aborted")));
      }),
    request: async <T>(method: string, path: string, args?: { body?: unknown; contentType?: string }) => {
      if (method !== "PATCH" || args?.contentType !== "application/merge-patch+json") {
        throw new Error(`unexpected ${method} ${path}`);
      }
      patches.push({ path, body: args.body as never });
      return {} as T;
    },
  };
  const store = new MemoryStore();
  const desired = new DesiredState(store);
  let revision = 0;
  const statuses = new Map<string, Status>();
  const source = new KubeSource({
    api,
    desired,
    store,
    published: {
      revision: () => revision,
      status: (key: ResourceKey) => statuses.get(`${key.kind}/${key.namespace}/${key.name}`),
      groups: () => [],
    },
    timers: new ManualClock(),
    logger,
    ...(leadership ? { leadership } : {}),
  });
  const emit = (event: WatchEvent<KubeObject>) => watchers.get("/apis/gantry.dev/v1/destinations")?.(event);
  const publish = async (state: State) => {
    revision = (await store.snapshot()).revision;
    statuses.set("Destination/shop/a", { state, messages: [] });
    source.published();
  };
  return { source, store, patches, emit, publish };
}

describe("KubeSource", () => {
  it("stores the objects listed, and writes Accepted only once that revision is published", async () => {
    const { source, store, patches, publish } = world();
    await source.start();
    const stored = await store.snapshot();
    expect(stored.resources.map((r) => r.document.metadata.name)).toEqual(["a"]);
    // Not yet translated: no status that would describe an older spec.
    expect(patches).toEqual([]);
    await publish(State.ACCEPTED);
    await waitFor(() => patches.length === 1, { what: "the status write" });
    expect(patches[0]?.path).toBe("/apis/gantry.dev/v1/namespaces/shop/destinations/a/status");
    expect(patches[0]?.body.status.conditions[0]).toMatchObject({ status: "True", observedGeneration: 1 });
    source.stop();
  });

  it("keeps the last valid version of an object it refuses, and says why in its status", async () => {
    const { source, store, patches, emit, publish } = world();
    await source.start();
    await publish(State.ACCEPTED);
    await waitFor(() => patches.length === 1, { what: "the first status" });
    emit({ type: "MODIFIED", object: destination("2", 2, { ports: "eighty" }) });
    await waitFor(() => patches.length === 2, { what: "the refusal's status" });
    const refused = patches[1]?.body.status;
    expect(refused?.state).toBe("Invalid");
    expect(refused?.conditions[0]).toMatchObject({ status: "False", observedGeneration: 2 });
    expect(String(refused?.conditions[0]?.["message"])).toContain("Destination shop/a: spec.ports: expected a list");
    const kept = (await store.snapshot()).resources[0]?.document.spec as { endpoints: unknown[] };
    expect(kept.endpoints).toHaveLength(1);
    source.stop();
  });

  it("removes the resource of a deleted object", async () => {
    const { source, store, emit } = world();
    await source.start();
    emit({ type: "DELETED", object: destination("3", 1, goodSpec) });
    await waitFor(async () => (await store.snapshot()).resources.length === 0, { what: "the deletion" });
    source.stop();
  });
  it("with leader election, writes statuses only while leading, and brings them up to date as it starts", async () => {
    const leadership = manualLeadership();
    const { source, store, patches, publish } = world(leadership);
    await source.start();
    await publish(State.ACCEPTED);
    // A follower stores and translates, and writes nothing (it decides so as the publication is told).
    expect((await store.snapshot()).resources).toHaveLength(1);
    expect(patches).toEqual([]);
    leadership.set(true);
    await waitFor(() => patches.length === 1, { what: "the new leader's status write" });
    expect(patches[0]?.body.status.conditions[0]).toMatchObject({ status: "True", observedGeneration: 1 });
    source.stop();
  });
});
