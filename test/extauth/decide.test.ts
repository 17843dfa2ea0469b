import { describe, expect, it } from "vitest";
import { type Decision, decide, type Step, type StepResult } from "../../src/extauth/decide.js";
import type { Verdict } from "../../src/extauth/evaluator.js";
import { parseExpression } from "../../src/extauth/expression.js";
import { ManualClock } from "../../src/lib/index.js";
import { context } from "./helpers.js";

interface Probe {
  steps: Map<string, Step>;
  calls: string[];
  results: Array<[string, StepResult]>;
}

/** Steps that answer fixed verdicts (sync, or async when the name ends in "_async"), recording calls. */
function probe(verdicts: Record<string, Verdict | (() => Verdict)>, failureModeAllow: string[] = []): Probe {
  const calls: string[] = [];
  const results: Array<[string, StepResult]> = [];
  const steps = new Map<string, Step>();
  for (const [name, verdict] of Object.entries(verdicts)) {
    const answer = () => (typeof verdict === "function" ? verdict() : verdict);
    steps.set(name, {
      name,
      kind: "basicAuth",
      failureModeAllow: failureModeAllow.includes(name),
      evaluator: {
        evaluate: (ctx) => {
          calls.push(name);
          ctx.state.set(name, true);
          return name.endsWith("_async") ? Promise.resolve(answer()) : answer();
        },
      },
      record: (result) => results.push([name, result]),
    });
  }
  return { steps, calls, results };
}

const allow = (header?: string): Verdict =>
  header
    ? { kind: "allow", headers: [{ name: header, value: "1" }], dynamicMetadata: { [header]: true } }
    : { kind: "allow" };
const deny = (reason = "no", status = 401): Verdict => ({ kind: "deny", status, reason });
const error = (reason = "redis down"): Verdict => ({ kind: "error", reason });

async function run(p: Probe, expression: string): Promise<Decision> {
  return decide(parseExpression(expression), p.steps, context());
}

describe("deciding a check", () => {
  it("short-circuits || on the first allow and && on the first deny", async () => {
    const p = probe({ a: allow(), b: allow(), c: deny() });
    expect((await run(p, "a || b")).kind).toBe("allow");
    expect(p.calls).toEqual(["a"]);
    p.calls.length = 0;
    expect((await run(p, "c && a")).kind).toBe("deny");
    expect(p.calls).toEqual(["c"]);
  });

  it("answers synchronously while every step does", () => {
    const p = probe({ a: allow(), b: deny() });
    const decision = decide(parseExpression("b || a"), p.steps, context());
    expect(decision).not.toBeInstanceOf(Promise);
    expect((decision as Decision).kind).toBe("allow");
  });

  it("mixes sync and async steps, left to right", async () => {
    const p = probe({ a_async: deny("a"), b: deny("b"), c_async: allow("x-c") });
    const decision = await run(p, "(a_async && b) || c_async");
    expect(p.calls).toEqual(["a_async", "c_async"]);
    expect(decision).toEqual({ kind: "allow", effects: [allow("x-c")] });
  });

  it("merges the effects of the steps that allowed, in order", async () => {
    const p = probe({ a: allow("x-a"), b: allow("x-b") });
    const decision = await run(p, "a && b");
    expect(decision).toEqual({ kind: "allow", effects: [allow("x-a"), allow("x-b")] });
  });

  it("reports the denial of the step that decided", async () => {
    const p = probe({ a: deny("bad password"), b: deny("unknown key", 403) });
    expect(await run(p, "a || b")).toEqual({ kind: "deny", step: "b", verdict: deny("unknown key", 403) });
  });

  it("negates: a denied step under ! allows, an allowed one denies with 403 and no effects", async () => {
    const p = probe({ a: allow("x-a"), b: deny() });
    expect(await run(p, "!b")).toEqual({ kind: "allow", effects: [] });
    const denied = await run(p, "!a");
    expect(denied).toMatchObject({ kind: "deny", step: "a", verdict: { status: 403 } });
  });

  it("treats a backend failure as unknown: an allowing branch still wins, otherwise it is an error", async () => {
    const p = probe({ down: error(), good: allow("x-good"), bad: deny() });
    expect(await run(p, "down || good")).toEqual({ kind: "allow", effects: [allow("x-good")] });
    expect(await run(p, "down || bad")).toEqual({ kind: "error", step: "down", reason: "redis down" });
    expect(await run(p, "down && bad")).toMatchObject({ kind: "deny", step: "bad" });
    expect(await run(p, "down && good")).toMatchObject({ kind: "error", step: "down" });
    // Negating an unknown stays unknown: a failed backend never turns into an allow.
    expect(await run(p, "!down")).toMatchObject({ kind: "error" });
  });

  it("lets a step with failureModeAllow pass when its backend fails", async () => {
    const p = probe({ down: error(), b: allow("x-b") }, ["down"]);
    expect(await run(p, "down && b")).toEqual({ kind: "allow", effects: [allow("x-b")] });
    expect(p.results).toEqual([
      ["down", "error_allowed"],
      ["b", "allow"],
    ]);
  });

  it("turns a throwing evaluator into a backend failure", async () => {
    const p = probe({
      boom: () => {
        throw new Error("bug");
      },
    });
    expect(await run(p, "boom")).toEqual({ kind: "error", step: "boom", reason: "evaluator failed: bug" });
  });

  it("bounds a slow step by the check's deadline, to the millisecond", async () => {
    const steps = new Map<string, Step>([
      [
        "slow",
        {
          name: "slow",
          kind: "oauth2",
          failureModeAllow: false,
          evaluator: {
            evaluate: (ctx) =>
              new Promise<Verdict>((resolve) => {
                ctx.signal.addEventListener("abort", () => resolve(allow()));
              }),
          },
          record: () => {},
        },
      ],
    ]);
    const clock = new ManualClock(0);
    const ctx = context({}, 20, clock);
    clock.advance(5);
    let settled = false;
    const decision = Promise.resolve(decide(parseExpression("slow"), steps, ctx)).finally(() => {
      settled = true;
    });
    // The deadline runs from the check's start, not from when the step began.
    clock.advance(14);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    expect(ctx.signal.aborted).toBe(false);
    clock.advance(1);
    expect(await decision).toEqual({ kind: "error", step: "slow", reason: "timed out after 20 ms" });
    expect(ctx.signal.aborted).toBe(true);
  });

  it("shares state between the steps of one check", async () => {
    const seen: boolean[] = [];
    const p = probe({ a: allow() });
    p.steps.set("b", {
      name: "b",
      kind: "hmacAuth",
      failureModeAllow: false,
      evaluator: {
        evaluate: (ctx) => {
          seen.push(ctx.state.get("a") === true);
          return allow();
        },
      },
      record: () => {},
    });
    await run(p, "a && b");
    expect(seen).toEqual([true]);
  });
});
