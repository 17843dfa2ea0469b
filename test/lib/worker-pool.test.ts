import { describe, expect, it } from "vitest";
import { PlainAssembler, toPlainBatches } from "../../src/lib/plain-batches.js";
import { WorkerPool, WorkerTaskError } from "../../src/lib/worker-pool.js";

const tasks = new URL("./fixtures/worker-tasks.mjs", import.meta.url);

function roundTrip(value: unknown, batchSize = 3): unknown {
  const assembler = new PlainAssembler();
  for (const batch of toPlainBatches(value, batchSize)) assembler.add(structuredClone(batch));
  return assembler.result;
}

describe("plain batches", () => {
  it("carries objects, arrays, Maps, Sets, bytes and bigints across batches", () => {
    const value = {
      a: [1, "two", null, undefined, true, 3n],
      m: new Map<unknown, unknown>([
        ["k", { deep: [new Uint8Array([1, 2])] }],
        [2, new Set(["x", "y"])],
      ]),
      empty: { list: [], map: new Map(), object: {} },
    };
    expect(roundTrip(value)).toEqual(value);
    expect(roundTrip("just a string")).toBe("just a string");
  });

  it("keeps a field named __proto__ as a field", () => {
    const value = JSON.parse('{"labels":{"__proto__":"x"}}') as Record<string, Record<string, string>>;
    const back = roundTrip(value) as Record<string, Record<string, string>>;
    expect(Object.keys(back["labels"] ?? {})).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(back["labels"])).toBe(Object.prototype);
  });

  it("walks nesting far deeper than the call stack, and 1,000,000 entries, without recursion", () => {
    let deep: unknown[] = [];
    const root = deep;
    for (let i = 0; i < 200_000; i++) {
      const next: unknown[] = [];
      deep.push(next);
      deep = next;
    }
    let back = roundTrip(root, 5_000) as unknown[];
    let depth = 0;
    while (back.length > 0) {
      back = back[0] as unknown[];
      depth += 1;
    }
    expect(depth).toBe(200_000);
    const wide = Array.from({ length: 1_000_000 }, (_, i) => i);
    expect((roundTrip(wide, 5_000) as number[]).length).toBe(1_000_000);
  });

  it("refuses a cycle and what cannot cross (functions, class instances)", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    expect(() => roundTrip(cyclic)).toThrow(/cyclic/);
    expect(() => roundTrip({ f: () => 1 })).toThrow(/function/);
    expect(() => roundTrip(new (class Thing {})())).toThrow(/Thing/);
  });
});

describe("WorkerPool", () => {
  it("runs a task in a worker thread, and a failure, a thread's exit or an exhausted heap is that task's error only", async () => {
    const pool = new WorkerPool({ maxHeapMb: 64 });
    try {
      expect(await pool.run({ module: tasks, name: "echo" }, { a: [1, 2] })).toEqual({ a: [1, 2] });
      const failure = await pool.run({ module: tasks, name: "fail" }, "x").catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(WorkerTaskError);
      expect(failure).toMatchObject({ message: "refused x", file: "a.yaml", line: 3 });
      await expect(pool.run({ module: tasks, name: "exit" }, null)).rejects.toThrow(/config worker thread failed/);
      await expect(pool.run({ module: tasks, name: "exhaust" }, null)).rejects.toThrow(/config worker thread failed/);
      // The pool starts a new thread, and this process is still here to see it.
      expect(await pool.run({ module: tasks, name: "echo" }, "again")).toBe("again");
    } finally {
      await pool.close();
    }
    await expect(pool.run({ module: tasks, name: "echo" }, 1)).rejects.toThrow(/closed/);
  }, 60_000);
});
