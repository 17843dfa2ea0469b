// The reflector's list/watch protocol against a scripted apiserver: resume from the last version
// after a dropped watch (no relist), relist on 410 Gone, back off on failures, an unserved
// collection reads as empty. The real apiserver runs in test/agent/kubernetes-discovery.test.ts.
import { afterEach, describe, expect, it } from "vitest";
import {
  type KubeApi,
  KubeApiError,
  type KubeList,
  type KubeObject,
  Reflector,
  type WatchEvent,
} from "../../src/kubernetes/index.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });

interface OpenWatch {
  resourceVersion: string;
  emit(type: WatchEvent<KubeObject>["type"], name: string, rv: string): void;
  end(): void;
  fail(error: Error): void;
}

/** An apiserver whose answers the test gives: `lists` in turn, and watches it drives. */
class ScriptedApi implements KubeApi {
  readonly server = "https://scripted";
  readonly lists: (KubeList<KubeObject> | Error)[] = [];
  readonly watches: OpenWatch[] = [];
  listCalls = 0;

  async request<T>(): Promise<T> {
    throw new Error("not used");
  }

  async list<T>(): Promise<KubeList<T>> {
    this.listCalls += 1;
    const next = this.lists.shift();
    if (!next) throw new Error("no list scripted");
    if (next instanceof Error) throw next;
    return next as KubeList<T>;
  }

  watch<T>(
    _path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent<T>) => void,
    args: { signal?: AbortSignal } = {},
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      args.signal?.addEventListener("abort", () => reject(new Error("aborted")));
      this.watches.push({
        resourceVersion,
        emit: (type, name, rv) =>
          onEvent({ type, object: { metadata: { name, namespace: "ns", resourceVersion: rv } } } as WatchEvent<T>),
        end: () => resolve(),
        fail: reject,
      });
    });
  }
}

const list = (rv: string, ...names: string[]): KubeList<KubeObject> => ({
  metadata: { resourceVersion: rv },
  items: names.map((name) => ({ metadata: { name, namespace: "ns", resourceVersion: rv } })),
});

describe("Reflector", () => {
  const clock = new ManualClock();
  let reflector: Reflector<string> | undefined;
  afterEach(async () => {
    await reflector?.stop();
  });

  const start = (api: ScriptedApi) => {
    let changes = 0;
    reflector = new Reflector<string>({
      api,
      path: "/api/v1/services",
      what: "Services",
      project: (o) => `${o.metadata.name}@${o.metadata.resourceVersion}`,
      onChange: () => {
        changes += 1;
      },
      timers: clock,
      logger,
      initialBackoffMs: 100,
      maxBackoffMs: 400,
      notServedRetryMs: 5_000,
    });
    reflector.run();
    return { changes: () => changes, reflector };
  };

  it("lists once, then resumes each ended or dropped watch from the last version seen, bookmarks included", async () => {
    const api = new ScriptedApi();
    api.lists.push(list("10", "a"));
    const { reflector, changes } = start(api);
    await waitFor(() => api.watches.length === 1);
    expect(reflector.synced).toBe(true);
    expect(api.watches[0]?.resourceVersion).toBe("10");
    api.watches[0]?.emit("ADDED", "b", "11");
    api.watches[0]?.emit("BOOKMARK", "", "15");
    api.watches[0]?.end();
    await waitFor(() => api.watches.length === 2);
    expect(api.watches[1]?.resourceVersion).toBe("15");
    api.watches[1]?.emit("DELETED", "a", "16");
    api.watches[1]?.fail(new Error("connection reset"));
    // A failure waits for its backoff before the watch is opened again, from version 16.
    await waitFor(() => clock.pendingTimers === 1);
    clock.advance(100);
    await waitFor(() => api.watches.length === 3);
    expect(api.watches[2]?.resourceVersion).toBe("16");
    expect(api.listCalls).toBe(1);
    expect([...reflector.items.values()]).toEqual(["b@11"]);
    expect(changes()).toBe(3);
  });

  it("lists again on 410 Gone, at once, and the copy is what the new list says", async () => {
    const api = new ScriptedApi();
    api.lists.push(list("10", "a", "b"), list("50", "b", "c"));
    const { reflector } = start(api);
    await waitFor(() => api.watches.length === 1);
    api.watches[0]?.fail(new KubeApiError("too old resource version", 410, "Expired"));
    await waitFor(() => api.watches.length === 2);
    expect(api.listCalls).toBe(2);
    expect(api.watches[1]?.resourceVersion).toBe("50");
    expect([...reflector.items.keys()].sort()).toEqual(["ns/b", "ns/c"]);
  });

  it("backs off exponentially, up to the bound, while the apiserver is unreachable", async () => {
    const api = new ScriptedApi();
    api.lists.push(
      new Error("ECONNREFUSED"),
      new Error("ECONNREFUSED"),
      new Error("ECONNREFUSED"),
      new Error("ECONNREFUSED"),
      list("7"),
    );
    start(api);
    // Each wait: nothing a millisecond before it ends, the next list when it does.
    for (const [calls, delay] of [
      [1, 100],
      [2, 200],
      [3, 400],
      [4, 400],
    ] as const) {
      await waitFor(() => clock.pendingTimers === 1);
      clock.advance(delay - 1);
      expect(api.listCalls).toBe(calls);
      clock.advance(1);
      await waitFor(() => api.listCalls === calls + 1);
    }
    await waitFor(() => api.watches.length === 1);
  });

  it("reads a collection the apiserver does not serve (a CRD not installed) as empty and synced, and lists it again later", async () => {
    const api = new ScriptedApi();
    api.lists.push(
      new KubeApiError("the server could not find the requested resource", 404, "NotFound"),
      list("3", "d"),
    );
    const { reflector, changes } = start(api);
    await waitFor(() => reflector.synced);
    expect(reflector.items.size).toBe(0);
    expect(changes()).toBe(1);
    clock.advance(5_000);
    await waitFor(() => api.watches.length === 1);
    expect([...reflector.items.keys()]).toEqual(["ns/d"]);
  });
  it("start() lists now, throwing with the path when it cannot; a relist tells only what differs, deletions included", async () => {
    const failing = new ScriptedApi();
    failing.lists.push(new KubeApiError("the server could not find the requested resource", 404, "NotFound"));
    const strict = new Reflector<string>({
      api: failing,
      path: "/apis/gantry.dev/v1/routetables",
      what: "RouteTables",
      project: (o) => o.metadata.name,
      onChange: () => undefined,
      timers: clock,
      logger,
    });
    await expect(strict.start()).rejects.toThrow("kubernetes: cannot list /apis/gantry.dev/v1/routetables:");

    const api = new ScriptedApi();
    const versioned = (rv: string, ...objects: Array<[string, string]>): KubeList<KubeObject> => ({
      metadata: { resourceVersion: rv },
      items: objects.map(([name, version]) => ({ metadata: { name, namespace: "ns", resourceVersion: version } })),
    });
    api.lists.push(versioned("3", ["a", "1"], ["b", "2"]), versioned("41", ["a", "1"], ["c", "40"]));
    const seen: Array<Record<string, string | null>> = [];
    reflector = new Reflector<string>({
      api,
      path: "/apis/gantry.dev/v1/routetables",
      what: "RouteTables",
      project: (o) => `${o.metadata.name}@${o.metadata.resourceVersion}`,
      onChange: (changes) => seen.push(Object.fromEntries([...changes].map(([k, v]) => [k, v ?? null]))),
      timers: clock,
      logger,
    });
    await reflector.start();
    expect(api.listCalls).toBe(1);
    await waitFor(() => api.watches.length === 1);
    api.watches[0]?.fail(new KubeApiError("too old resource version: 3 (39)", 410, "Expired"));
    await waitFor(() => api.watches.length === 2);
    expect(api.watches[1]?.resourceVersion).toBe("41");
    expect(seen).toEqual([
      { "ns/a": "a@1", "ns/b": "b@2" },
      { "ns/c": "c@40", "ns/b": null },
    ]);
    expect(reflector.stats).toEqual({ lists: 2, watches: 2, gone: 1 });
  });

  it("ends its loop when stopped during a backoff (the cancelled timer would never wake it)", async () => {
    const api = new ScriptedApi();
    api.lists.push(list("7"));
    const { reflector } = start(api);
    await waitFor(() => api.watches.length === 1);
    api.watches[0]?.fail(new Error("connect ECONNREFUSED"));
    await waitFor(() => clock.pendingTimers === 1);
    const ended = await Promise.race([
      reflector.stop().then(() => "ended"),
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 2_000)),
    ]);
    expect(ended).toBe("ended");
    expect(api.watches).toHaveLength(1);
  });
});
