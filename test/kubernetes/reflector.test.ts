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
    reflector.start();
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
});
