// SourceReconciler: what one source's snapshots write to the store and delete from it, with and
// without `formOf`, and that a failed write leaves nothing counted as done.
import { describe, expect, it } from "vitest";
import {
  keyOf,
  MemoryStore,
  type ResourceDocument,
  type ResourceKey,
  SourceReconciler,
  type WriteResult,
} from "../../src/store/index.js";

const doc = (name: string, port: number): ResourceDocument => ({
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name, namespace: "shop" },
  spec: { ports: [{ number: port }] },
});
const key = (name: string): ResourceKey => ({ kind: "Destination", namespace: "shop", name });

function world(withForm: boolean) {
  const store = new MemoryStore();
  const writes: string[][] = [];
  let failNext = false;
  const reconciler = new SourceReconciler<ResourceDocument>({
    keyOf,
    write: async (entries): Promise<WriteResult> => {
      writes.push(entries.map((e) => e.metadata.name));
      if (failNext) {
        failNext = false;
        throw new Error("store away");
      }
      return store.apply(entries);
    },
    delete: (keys) => store.delete(keys),
    ...(withForm ? { formOf: (entry: ResourceDocument) => JSON.stringify(entry.spec) } : {}),
  });
  const names = async () => (await store.snapshot()).resources.map((r) => r.document.metadata.name).sort();
  return { store, writes, reconciler, names, failOnce: () => (failNext = true) };
}

describe("SourceReconciler", () => {
  it("without formOf writes the whole set each time and deletes what the source no longer names", async () => {
    const { writes, reconciler, names } = world(false);
    await reconciler.reconcile({ valid: [doc("a", 80), doc("b", 80)], refused: [] });
    const second = await reconciler.reconcile({ valid: [doc("a", 80)], refused: [] });
    expect(writes).toEqual([["a", "b"], ["a"]]);
    expect(second.applied).toEqual([]);
    expect(second.gone).toEqual([key("b")]);
    expect(second.deleted).toEqual([key("b")]);
    expect(await names()).toEqual(["a"]);
  });

  it("with formOf writes only what changed, and a refused entry keeps its last good version", async () => {
    const { store, writes, reconciler, names } = world(true);
    await reconciler.reconcile({ valid: [doc("a", 80), doc("b", 80)], refused: [] });
    await reconciler.reconcile({ valid: [doc("a", 80), doc("b", 81)], refused: [] });
    // b refused: neither written nor deleted.
    const refused = await reconciler.reconcile({ valid: [doc("a", 80)], refused: [key("b")] });
    expect(refused.gone).toEqual([]);
    expect(await names()).toEqual(["a", "b"]);
    // b valid again with the form it had before it was refused: written again all the same.
    await reconciler.reconcile({ valid: [doc("a", 80), doc("b", 81)], refused: [] });
    expect(writes).toEqual([["a", "b"], ["b"], ["b"]]);
    const stored = (await store.snapshot()).resources.find((r) => r.document.metadata.name === "b");
    expect(stored?.document.spec).toEqual({ ports: [{ number: 81 }] });
  });

  it("a failed write counts nothing as done: the same snapshot is written again in full", async () => {
    const { writes, reconciler, names, failOnce } = world(true);
    await reconciler.reconcile({ valid: [doc("a", 80)], refused: [] });
    failOnce();
    const next = { valid: [doc("a", 81), doc("b", 80)], refused: [] };
    await expect(reconciler.reconcile(next)).rejects.toThrow("store away");
    await reconciler.reconcile(next);
    expect(writes).toEqual([["a"], ["a", "b"], ["a", "b"]]);
    expect(await names()).toEqual(["a", "b"]);
  });
});
