import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { type BudgetedWriter, WriteBudget } from "../../src/xds/write-budget.js";

/** A writer that records its resumes and, when resumed, writes `bytes` as a stream's push pass would. */
class Writer implements BudgetedWriter {
  resumed = 0;
  stalledCalls = 0;
  constructor(
    readonly name: string,
    readonly budget: WriteBudget,
    readonly bytes: number,
    readonly order: string[],
  ) {}
  /** A push pass: writes only when admitted. */
  pass(): boolean {
    if (!this.budget.admit(this)) return false;
    this.budget.hold(this, this.bytes);
    this.order.push(this.name);
    return true;
  }
  resume(): void {
    this.resumed += 1;
    this.pass();
  }
  stalled(): void {
    this.stalledCalls += 1;
  }
}

function setup(maxBytes: number, stallMs = 1_000) {
  const clock = new ManualClock();
  const counts = { waits: 0, stalls: 0 };
  const budget = new WriteBudget({
    maxBytes,
    stallMs,
    clock,
    onWait: () => counts.waits++,
    onStalled: () => counts.stalls++,
  });
  const order: string[] = [];
  const writer = (name: string, bytes: number) => new Writer(name, budget, bytes, order);
  return { clock, budget, counts, order, writer };
}

describe("WriteBudget", () => {
  it("lets writers write while there is room, then puts them in line and resumes them in turn as bytes drain", () => {
    const { budget, counts, order, writer } = setup(100);
    const [a, b, c, d] = [writer("a", 60), writer("b", 60), writer("c", 30), writer("d", 30)];
    expect(a.pass()).toBe(true);
    // Room left (60 < 100): b writes and overshoots by its one pass, never more.
    expect(b.pass()).toBe(true);
    expect(budget.bufferedBytes).toBe(120);
    expect(c.pass()).toBe(false);
    expect(d.pass()).toBe(false);
    expect(budget.waiting).toBe(2);
    expect(counts.waits).toBe(2);

    budget.written(a, 60);
    // 60 held: c is resumed and writes (90), then d (90 < 100), which reaches 120.
    expect(order).toEqual(["a", "b", "c", "d"]);
    expect(budget.bufferedBytes).toBe(120);
    expect(budget.waiting).toBe(0);
  });

  it("keeps the line in order: a newcomer waits behind those already waiting even when bytes drained", () => {
    const { budget, order, writer } = setup(100);
    const [a, b, late] = [writer("a", 100), writer("b", 100), writer("late", 10)];
    a.pass();
    expect(b.pass()).toBe(false);
    budget.written(a, 100);
    // b was resumed first and filled the budget again.
    expect(order).toEqual(["a", "b"]);
    expect(late.pass()).toBe(false);
    budget.written(b, 100);
    expect(order).toEqual(["a", "b", "late"]);
  });

  it("gives back what a writer held when it goes, and takes it out of the line", () => {
    const { budget, writer } = setup(100);
    const [a, b, c] = [writer("a", 150), writer("b", 10), writer("c", 10)];
    a.pass();
    b.pass();
    c.pass();
    budget.forget(b);
    budget.forget(a);
    expect(budget.bufferedBytes).toBe(10);
    expect(b.resumed).toBe(0);
    expect(c.resumed).toBe(1);
  });

  it("lets go of a writer that wrote nothing out for the stall bound while others wait, biggest first", () => {
    const { clock, budget, counts, writer } = setup(100, 1_000);
    const [small, big, waiting] = [writer("small", 40), writer("big", 80), writer("waiting", 10)];
    small.pass();
    big.pass();
    expect(waiting.pass()).toBe(false);
    clock.advance(900);
    expect(big.stalledCalls).toBe(0);
    clock.advance(400);
    // Letting go of the biggest (80) makes room: the smaller one keeps its connection.
    expect(big.stalledCalls).toBe(1);
    expect(small.stalledCalls).toBe(0);
    expect(counts.stalls).toBe(1);
    expect(waiting.resumed).toBe(1);
    expect(budget.bufferedBytes).toBe(50);
  });

  it("never lets go of a writer whose bytes keep draining, nor of anyone while nobody waits", () => {
    const { clock, budget, writer } = setup(100, 1_000);
    const [slowButMoving, waiting] = [writer("moving", 200), writer("waiting", 10)];
    slowButMoving.pass();
    clock.advance(5_000);
    expect(slowButMoving.stalledCalls).toBe(0);
    budget.written(slowButMoving, 10);
    expect(waiting.pass()).toBe(false);
    for (let i = 0; i < 5; i++) {
      clock.advance(600);
      budget.written(slowButMoving, 10);
    }
    expect(slowButMoving.stalledCalls).toBe(0);
  });

  it("has no bound at Infinity", () => {
    const { budget, writer } = setup(Infinity);
    const a = writer("a", 1e12);
    expect(a.pass()).toBe(true);
    expect(a.pass()).toBe(true);
    expect(budget.waiting).toBe(0);
  });
});
