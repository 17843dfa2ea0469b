import { describe, expect, it } from "vitest";
import { type KubeClient, KubeError, type KubeList, type WatchEvent } from "../../src/kube/client.js";
import { type Changes, Informer } from "../../src/kube/informer.js";
import type { KubeObject } from "../../src/kube/objects.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });

const object = (name: string, rv: string): KubeObject => ({
  metadata: { name, namespace: "default", resourceVersion: rv, uid: name },
});

type WatchStep = (onEvent: (event: WatchEvent) => void) => Promise<void>;

/** A client whose lists and watches follow a script; it records what it was asked. */
function scriptedClient(lists: KubeList[], watches: WatchStep[]) {
  const asked: string[] = [];
  const client: KubeClient = {
    async list() {
      asked.push("list");
      const next = lists.shift();
      if (!next) throw new Error("no more lists scripted");
      return next;
    },
    async watch(_path, rv, onEvent, signal) {
      asked.push(`watch@${rv}`);
      const step = watches.shift();
      // Unscripted: a watch that stays open until stopped.
      if (!step)
        return new Promise<void>((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
      return step(onEvent);
    },
    get: async () => ({}),
    mergePatch: async () => ({}),
  };
  return { client, asked };
}

function informerOf(client: KubeClient, clock: ManualClock) {
  const seen: Array<Record<string, string | null>> = [];
  const informer = new Informer({
    client,
    path: "/apis/gantry.dev/v1/routetables",
    timers: clock,
    logger,
    onChanges: (changes: Changes) =>
      seen.push(Object.fromEntries([...changes].map(([k, o]) => [k, o?.metadata?.resourceVersion ?? null]))),
  });
  return { informer, seen };
}

describe("Informer", () => {
  it("resumes a watch the server ended from the last version seen, without listing again", async () => {
    const { client, asked } = scriptedClient(
      [{ items: [object("a", "5")], resourceVersion: "10" }],
      [
        async (on) => {
          on({ type: "MODIFIED", object: object("a", "11") });
          on({ type: "BOOKMARK", object: { metadata: { resourceVersion: "14" } } });
        },
      ],
    );
    const clock = new ManualClock();
    const { informer, seen } = informerOf(client, clock);
    await informer.start();
    await waitFor(() => asked.length === 3, { what: "the second watch" });
    informer.stop();
    expect(asked).toEqual(["list", "watch@10", "watch@14"]);
    expect(seen).toEqual([{ "default/a": "5" }, { "default/a": "11" }]);
    expect(informer.stats).toEqual({ lists: 1, watches: 2, gone: 0 });
  });

  it("backs off after a broken watch (a restarting API server), then resumes from the same version", async () => {
    const { client, asked } = scriptedClient(
      [{ items: [], resourceVersion: "7" }],
      [
        async (on) => {
          on({ type: "ADDED", object: object("b", "8") });
          throw new Error("socket hang up");
        },
        async () => {
          throw new Error("connect ECONNREFUSED");
        },
      ],
    );
    const clock = new ManualClock();
    const { informer, seen } = informerOf(client, clock);
    await informer.start();
    await waitFor(() => asked.length === 2, { what: "the first watch" });
    // Nothing is retried before the backoff passes on the injected clock.
    await new Promise((resolve) => setImmediate(resolve));
    expect(asked).toEqual(["list", "watch@7"]);
    clock.advance(200);
    await waitFor(() => asked.length === 3, { what: "the second watch" });
    clock.advance(400);
    await waitFor(() => asked.length === 4, { what: "the third watch" });
    informer.stop();
    expect(asked).toEqual(["list", "watch@7", "watch@8", "watch@8"]);
    expect(seen).toEqual([{ "default/b": "8" }]);
  });

  it("ends its watch loop when stopped during a backoff (the cancelled timer would never wake it)", async () => {
    const { client, asked } = scriptedClient(
      [{ items: [], resourceVersion: "7" }],
      [
        async () => {
          throw new Error("connect ECONNREFUSED");
        },
      ],
    );
    const { informer } = informerOf(client, new ManualClock());
    await informer.start();
    await waitFor(() => asked.length === 2, { what: "the failed watch" });
    await new Promise((resolve) => setImmediate(resolve));
    const ended = await Promise.race([
      informer.stop().then(() => "ended"),
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 2_000)),
    ]);
    expect(ended).toBe("ended");
    expect(asked).toEqual(["list", "watch@7"]);
  });

  it("lists again on 410 Gone and tells what changed meanwhile, deletions included", async () => {
    const { client, asked } = scriptedClient(
      [
        { items: [object("a", "1"), object("b", "2")], resourceVersion: "3" },
        { items: [object("a", "1"), object("c", "40")], resourceVersion: "41" },
        { items: [object("c", "40")], resourceVersion: "50" },
      ],
      [
        async () => {
          throw new KubeError(410, "too old resource version: 3 (39)");
        },
        // The same, said inside the stream as an ERROR event.
        async (on) => on({ type: "ERROR", object: { code: 410, message: "too old resource version" } }),
      ],
    );
    const { informer, seen } = informerOf(client, new ManualClock());
    await informer.start();
    await waitFor(() => asked.length === 6, { what: "two relists" });
    informer.stop();
    expect(asked).toEqual(["list", "watch@3", "list", "watch@41", "list", "watch@50"]);
    expect(seen).toEqual([
      { "default/a": "1", "default/b": "2" },
      { "default/c": "40", "default/b": null },
      { "default/a": null },
    ]);
    expect(informer.stats.gone).toBe(2);
  });
});
