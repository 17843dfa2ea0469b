import type { CheckRequest } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { Timer, Timers } from "../lib/clock.js";
import type { RequestSpan } from "../lib/tracing/index.js";
import type { CheckContext, Verdict } from "./evaluator.js";

const noHeaders: Readonly<Record<string, string>> = Object.freeze({});

/**
 * One check's context. The abort signal, the shared state and the deadline timer are made only
 * when a step needs them, so a check answered from memory (a cached API key) allocates little.
 */
export class RequestContext implements CheckContext {
  readonly request: CheckRequest;
  readonly headers: Readonly<Record<string, string>>;
  readonly #clock: Timers;
  readonly #timeoutMs: number;
  readonly #startedAt: number;
  #state: Map<string, unknown> | undefined;
  #controller: AbortController | undefined;
  #timer: Timer | undefined;
  #expired: Promise<Verdict> | undefined;
  /** The check's span when the request is traced and sampled. */
  readonly trace: RequestSpan | undefined;
  /** The span of the step being evaluated (steps run one at a time), for evaluators' child spans. */
  span: RequestSpan | undefined;

  constructor(request: CheckRequest, timeoutMs: number, clock: Timers, trace?: RequestSpan) {
    this.request = request;
    this.trace = trace;
    this.headers = request.attributes?.request?.http?.headers ?? noHeaders;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#startedAt = clock.now();
  }

  get state(): Map<string, unknown> {
    this.#state ??= new Map();
    return this.#state;
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /**
   * A pending verdict, bounded by the check's deadline: past it the step's backend calls are
   * aborted and the step counts as a backend failure.
   */
  bound(pending: Promise<Verdict>): Promise<Verdict> {
    if (!this.#expired) {
      // Clamped both ways: a wall clock set back must not stretch the deadline.
      const elapsed = this.#clock.now() - this.#startedAt;
      const remaining = Math.min(this.#timeoutMs, Math.max(0, this.#timeoutMs - elapsed));
      this.#expired = new Promise<Verdict>((resolve) => {
        this.#timer = this.#clock.setTimeout(() => {
          this.#controller?.abort(new Error(`check deadline of ${this.#timeoutMs} ms passed`));
          resolve({ kind: "error", reason: `timed out after ${this.#timeoutMs} ms` });
        }, remaining);
      });
    }
    return Promise.race([pending, this.#expired]);
  }

  /** Stops the deadline timer once the check is answered. */
  finish(): void {
    this.#timer?.cancel();
  }
}
