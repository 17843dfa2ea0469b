import { Counter, Gauge, Histogram, type Registry, requestLatencyBuckets } from "../lib/index.js";
import type { EvaluatorKind, StepResult } from "./decide.js";

export type CheckResult = "allow" | "deny" | "redirect" | "error" | "unknown_config";

/** The series of one auth config, bound once so the hot path does no label lookups. */
export interface ConfigMetrics {
  check(result: CheckResult, seconds: number): void;
  step(name: string, kind: EvaluatorKind): (result: StepResult) => void;
}

/**
 * The ext-auth server's metrics: checks by config id and result, their latency, each step's
 * results by evaluator, backend failures, and config reloads.
 */
export class ExtAuthMetrics {
  readonly #checks: Counter<"config_id" | "result">;
  readonly #latency: Histogram<"config_id">;
  readonly #steps: Counter<"config_id" | "step" | "evaluator" | "result">;
  readonly #backendErrors: Counter<"config_id" | "evaluator">;
  readonly #reloads: Counter<"result">;
  readonly #configs: Gauge;
  readonly #revocationSubscribed: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#checks = new Counter({
      name: "gantry_extauth_checks_total",
      help: "Checks answered, by auth config id and result (allow, deny, redirect, error, unknown_config)",
      labelNames: ["config_id", "result"],
      registers,
    });
    this.#latency = new Histogram({
      name: "gantry_extauth_check_duration_seconds",
      help: "Time to answer a check, by auth config id",
      labelNames: ["config_id"],
      buckets: requestLatencyBuckets,
      registers,
    });
    this.#steps = new Counter({
      name: "gantry_extauth_step_results_total",
      help: "Step evaluations by auth config id, step, evaluator and result (allow, deny, redirect, error, error_allowed)",
      labelNames: ["config_id", "step", "evaluator", "result"],
      registers,
    });
    this.#backendErrors = new Counter({
      name: "gantry_extauth_backend_errors_total",
      help: "Steps that could not decide because a backend (Redis, LDAP, IdP, JWKS) failed or timed out",
      labelNames: ["config_id", "evaluator"],
      registers,
    });
    this.#reloads = new Counter({
      name: "gantry_extauth_config_reloads_total",
      help: "Config loads by result (success, failure); a failed load keeps the last good config",
      labelNames: ["result"],
      registers,
    });
    this.#configs = new Gauge({
      name: "gantry_extauth_configs",
      help: "Auth configs being served",
      registers,
    });
    this.#revocationSubscribed = new Gauge({
      name: "gantry_extauth_apikey_revocation_subscribed",
      help: "1 while API key revocations are received from Redis, 0 while the subscription is being retried",
      registers,
    });
  }

  /** Only a server with an ext-auth Redis reports the subscription (0 until it is established). */
  apiKeyRevocations(subscribed: boolean): void {
    this.#revocationSubscribed.set(subscribed ? 1 : 0);
  }

  forConfig(configId: string): ConfigMetrics {
    const latency = this.#latency.labels(configId);
    const checks = new Map<CheckResult, Counter.Internal>();
    const checkCounter = (result: CheckResult) => {
      let child = checks.get(result);
      if (!child) {
        child = this.#checks.labels(configId, result);
        checks.set(result, child);
      }
      return child;
    };
    return {
      check: (result, seconds) => {
        checkCounter(result).inc();
        latency.observe(seconds);
      },
      step: (name, kind) => {
        const children = new Map<StepResult, Counter.Internal>();
        const backendErrors = this.#backendErrors.labels(configId, kind);
        return (result) => {
          let child = children.get(result);
          if (!child) {
            child = this.#steps.labels(configId, name, kind, result);
            children.set(result, child);
          }
          child.inc();
          if (result === "error" || result === "error_allowed") backendErrors.inc();
        };
      },
    };
  }

  unknownConfig(configId: string | undefined, seconds: number): void {
    // The id itself is not a label: it comes from routes, and a typo must not mint series.
    this.#checks.labels(configId === undefined ? "" : "(unknown)", "unknown_config").inc();
    this.#latency.labels("(unknown)").observe(seconds);
  }

  reload(result: "success" | "failure", configCount?: number): void {
    this.#reloads.labels(result).inc();
    if (configCount !== undefined) this.#configs.set(configCount);
  }
}
