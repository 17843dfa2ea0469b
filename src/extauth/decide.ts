import type { Config } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import type { RequestSpan } from "../lib/tracing/index.js";
import type { RequestContext } from "./context.js";
import type { AllowEffects, Evaluator, Verdict } from "./evaluator.js";
import type { Expression } from "./expression.js";

export type EvaluatorKind = NonNullable<Config["evaluator"]["case"]>;

/** What a step's evaluation came to, for metrics: its verdict kind, or an error let through. */
export type StepResult = Verdict["kind"] | "error_allowed";

/** One named step of an auth config, ready to run. */
export interface Step {
  readonly name: string;
  readonly kind: EvaluatorKind;
  readonly evaluator: Evaluator;
  readonly failureModeAllow: boolean;
  /** Called once per evaluation (metrics, logs of backend failures). */
  readonly record: (result: StepResult, verdict: Verdict) => void;
}

export type Denial = Extract<Verdict, { kind: "deny" | "redirect" }>;

/** The outcome of one auth config on one request. */
export type Decision =
  | { kind: "allow"; effects: AllowEffects[] }
  | { kind: "deny"; step: string; verdict: Denial }
  | { kind: "error"; step: string; reason: string };

enum Truth {
  True,
  False,
  /** A step's backend failed: neither true nor false (Kleene logic), so `x || good` can still allow. */
  Unknown,
}

/** Collects what the steps said while the expression is walked. */
class Trace {
  readonly effects: AllowEffects[] = [];
  denial: { step: string; verdict: Denial } | undefined;
  error: { step: string; reason: string } | undefined;
}

type Pending<T> = T | Promise<T>;

function then<T, U>(value: Pending<T>, next: (value: T) => Pending<U>): Pending<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

function failedEvaluation(err: unknown): Verdict {
  return { kind: "error", reason: `evaluator failed: ${err instanceof Error ? err.message : String(err)}` };
}

function evaluateStep(step: Step, context: RequestContext): Pending<Verdict> {
  if (context.trace) return traceStep(step, context, context.trace);
  return runStep(step, context);
}

/** A step of a sampled request, in its own child span. */
function traceStep(step: Step, context: RequestContext, trace: RequestSpan): Pending<Verdict> {
  const span = trace.child(`step ${step.name}`, { "gantry.step": step.name, "gantry.evaluator": step.kind });
  context.span = span;
  const finish = (verdict: Verdict): Verdict => {
    span.setAttribute("gantry.verdict", verdict.kind);
    if (verdict.kind === "error") span.fail(verdict.reason);
    span.end();
    if (context.span === span) context.span = undefined;
    return verdict;
  };
  const verdict = runStep(step, context);
  return verdict instanceof Promise ? verdict.then(finish) : finish(verdict);
}

function runStep(step: Step, context: RequestContext): Pending<Verdict> {
  let verdict: Pending<Verdict>;
  try {
    verdict = step.evaluator.evaluate(context);
  } catch (err) {
    return failedEvaluation(err);
  }
  return verdict instanceof Promise ? context.bound(verdict.catch(failedEvaluation)) : verdict;
}

function settleStep(step: Step, verdict: Verdict, negated: boolean, trace: Trace): Truth {
  switch (verdict.kind) {
    case "allow":
      step.record("allow", verdict);
      if (negated) {
        trace.denial = {
          step: step.name,
          verdict: { kind: "deny", status: 403, reason: `step "${step.name}" allowed where its negation is required` },
        };
      } else {
        trace.effects.push(verdict);
      }
      return Truth.True;
    case "deny":
    case "redirect":
      step.record(verdict.kind, verdict);
      if (!negated) trace.denial = { step: step.name, verdict };
      return Truth.False;
    case "error":
      if (step.failureModeAllow) {
        step.record("error_allowed", verdict);
        return Truth.True;
      }
      step.record("error", verdict);
      trace.error = { step: step.name, reason: verdict.reason };
      return Truth.Unknown;
  }
}

function walk(
  expression: Expression,
  steps: ReadonlyMap<string, Step>,
  context: RequestContext,
  negated: boolean,
  trace: Trace,
): Pending<Truth> {
  switch (expression.kind) {
    case "step": {
      // Names were checked against the steps when the config was compiled.
      const step = steps.get(expression.name) as Step;
      return then(evaluateStep(step, context), (verdict) => settleStep(step, verdict, negated, trace));
    }
    case "not":
      return then(walk(expression.operand, steps, context, !negated, trace), (truth) =>
        truth === Truth.Unknown ? Truth.Unknown : truth === Truth.True ? Truth.False : Truth.True,
      );
    case "and":
      return then(walk(expression.left, steps, context, negated, trace), (left) =>
        left === Truth.False
          ? Truth.False
          : then(walk(expression.right, steps, context, negated, trace), (right) =>
              right === Truth.False ? Truth.False : left === Truth.Unknown ? Truth.Unknown : right,
            ),
      );
    case "or":
      return then(walk(expression.left, steps, context, negated, trace), (left) =>
        left === Truth.True
          ? Truth.True
          : then(walk(expression.right, steps, context, negated, trace), (right) =>
              right === Truth.True ? Truth.True : left === Truth.Unknown ? Truth.Unknown : right,
            ),
      );
  }
}

function conclude(truth: Truth, trace: Trace): Decision {
  switch (truth) {
    case Truth.True:
      return { kind: "allow", effects: trace.effects };
    case Truth.False:
      return trace.denial
        ? { kind: "deny", step: trace.denial.step, verdict: trace.denial.verdict }
        : { kind: "deny", step: "", verdict: { kind: "deny", status: 403, reason: "denied" } };
    case Truth.Unknown:
      return { kind: "error", ...(trace.error ?? { step: "", reason: "backend failure" }) };
  }
}

/**
 * Runs the steps of one auth config as its expression says, with short-circuit, left to right.
 * A step whose backend fails counts as allowed when its `failureModeAllow` is set; otherwise it
 * is unknown, and an unknown outcome is a denial. Only steps that allowed outside a negation
 * contribute headers and metadata. Stays synchronous while every step answers synchronously.
 */
export function decide(
  expression: Expression,
  steps: ReadonlyMap<string, Step>,
  context: RequestContext,
): Pending<Decision> {
  const trace = new Trace();
  return then(walk(expression, steps, context, false, trace), (truth) => conclude(truth, trace));
}
