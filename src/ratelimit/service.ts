import { RateLimitResponse_Code as Code, type RateLimitRequest } from "../gen/envoy/service/ratelimit/v3/rls_pb.js";
import { RateLimitAlgorithm } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { type Clock, GrpcError, GrpcStatus, type RequestSpan } from "../lib/index.js";
import { unitSeconds } from "../ratelimit-config/index.js";
import { fixedWindowKey, fixedWindowStart, type HitOutcome } from "./algorithms.js";
import type { HitCoalescer } from "./coalescer.js";
import type { RateLimitMetrics } from "./metrics.js";
import type { OverLimitCache } from "./over-limit-cache.js";
import { type CheckedRequest, checkRequest, defaultRequestLimits, type RequestLimits } from "./request.js";
import type { DescriptorStatusAnswer, RateLimitAnswer } from "./response-encoding.js";
import { type AppliedLimit, type DescriptorMatch, matchDescriptor, type RuleBook } from "./rules.js";
import { toResponseUnit } from "./units.js";

/** What to answer when the counter store fails: let traffic through, stop it, or tell Envoy (UNAVAILABLE). */
export type RedisFailureMode = "allow" | "deny" | "error";

export interface ResponseHeaderNames {
  readonly limit: string;
  readonly remaining: string;
  readonly reset: string;
}

export const defaultResponseHeaderNames: ResponseHeaderNames = {
  limit: "RateLimit-Limit",
  remaining: "RateLimit-Remaining",
  reset: "RateLimit-Reset",
};

export interface RateLimitServiceOptions {
  readonly coalescer: HitCoalescer;
  readonly clock: Clock;
  readonly metrics: RateLimitMetrics;
  readonly failureMode: RedisFailureMode;
  /** Only `overall_code` is forced to OK; statuses still say what would have happened. */
  readonly globalShadowMode: boolean;
  readonly responseHeaders: ResponseHeaderNames | undefined;
  readonly overLimitCache: OverLimitCache | undefined;
  /** Bounds on one request. Default `defaultRequestLimits`. */
  readonly requestLimits?: RequestLimits;
}

/**
 * Descriptors one request works through in one event-loop turn. A request with more goes on in later
 * turns (setImmediate), so a huge request never holds up the small ones behind it.
 */
export const descriptorsPerTurn = 256;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Unlimited descriptors report the largest uint32 as remaining, as envoyproxy/ratelimit does. */
const unlimitedRemaining = 0xffff_ffff;

type LimitResult =
  | { readonly kind: "counted"; readonly outcome: HitOutcome; readonly fromCache: boolean }
  | { readonly kind: "failed" };

interface Evaluated {
  readonly limit: AppliedLimit;
  readonly result: LimitResult;
}

/** Names replaced by any limit matched in this request (unlimited ones too); limits with those names are dropped. */
function replacedNames(matches: readonly DescriptorMatch[]): Set<string> {
  const names = new Set<string>();
  for (const match of matches) {
    if (match.kind === "limited")
      for (const applied of match.limits) for (const n of applied.rule.replaces) names.add(n);
    else if (match.kind === "unlimited") for (const n of match.replaces) names.add(n);
  }
  return names;
}

/** One descriptor's answer, and the status its response headers would be taken from. */
interface Answered {
  readonly status: DescriptorStatusAnswer;
  /** Before quota mode turned an over status to OK: what envoyproxy/ratelimit picks headers from. */
  readonly counted: DescriptorStatusAnswer;
  readonly unit: number | undefined;
  /** Over its limit and enforced: decides the overall code and, first of all, the headers. */
  readonly enforcedOver: boolean;
}

/**
 * ShouldRateLimit: find the limits each descriptor matches, drop replaced ones, count the hits
 * (coalesced per event-loop turn; over-limit keys answered from the local cache), and answer one
 * status per descriptor in order.
 */
export class RateLimiter {
  readonly #options: RateLimitServiceOptions;
  /** None until a config loads: calls are then refused, as envoyproxy/ratelimit refuses them. */
  #rules: RuleBook | undefined;

  constructor(options: RateLimitServiceOptions) {
    this.#options = options;
  }

  /** Swaps in a new rule book at once; requests in flight finish on the one they started with. */
  setRules(rules: RuleBook): void {
    this.#rules = rules;
    this.#options.overLimitCache?.clear();
  }

  get rules(): RuleBook | undefined {
    return this.#rules;
  }

  /**
   * Answers at once (no promise) when no counter store is needed: every limit was answered by the
   * over-limit cache, or nothing matched. That is the common case for traffic over its limit.
   */
  shouldRateLimit(request: RateLimitRequest, span?: RequestSpan): RateLimitAnswer | Promise<RateLimitAnswer> {
    const checked = checkRequest(request, this.#options.requestLimits ?? defaultRequestLimits);
    const rules = this.#rules;
    if (!rules) throw new GrpcError(GrpcStatus.UNKNOWN, "no rate limit configuration loaded");
    span?.setAttribute("gantry.ratelimit.domain", checked.domain);
    span?.setAttribute("gantry.ratelimit.descriptors", checked.descriptors.length);
    if (checked.descriptors.length > descriptorsPerTurn) return this.#inSlices(rules, checked, span);
    const matches = checked.descriptors.map((d) => matchDescriptor(rules, checked.domain, d.entries, d.override));
    const replaced = replacedNames(matches);
    const waiting: Promise<void>[] = [];
    const evaluated = matches.map((match, i) => this.#evaluateDescriptor(match, checked, i, replaced, waiting, span));
    if (waiting.length === 0) return this.#respond(matches, evaluated);
    const all = waiting.length === 1 ? (waiting[0] as Promise<void>) : Promise.all(waiting);
    return all.then(() => this.#respond(matches, evaluated));
  }

  /** The same answer for a request of many descriptors, worked through a slice per event-loop turn. */
  async #inSlices(rules: RuleBook, checked: CheckedRequest, span: RequestSpan | undefined): Promise<RateLimitAnswer> {
    const { descriptors, domain } = checked;
    const matches: DescriptorMatch[] = new Array(descriptors.length);
    for (let start = 0; start < descriptors.length; start += descriptorsPerTurn) {
      await nextTurn();
      const end = Math.min(descriptors.length, start + descriptorsPerTurn);
      for (let i = start; i < end; i++) {
        const d = descriptors[i] as CheckedRequest["descriptors"][number];
        matches[i] = matchDescriptor(rules, domain, d.entries, d.override);
      }
    }
    const replaced = replacedNames(matches);
    const waiting: Promise<void>[] = [];
    const evaluated: (Evaluated[] | undefined)[] = new Array(descriptors.length);
    for (let start = 0; start < descriptors.length; start += descriptorsPerTurn) {
      await nextTurn();
      const end = Math.min(descriptors.length, start + descriptorsPerTurn);
      for (let i = start; i < end; i++) {
        evaluated[i] = this.#evaluateDescriptor(matches[i] as DescriptorMatch, checked, i, replaced, waiting, span);
      }
    }
    await Promise.all(waiting);
    await nextTurn();
    return this.#respond(matches, evaluated);
  }

  /** Counts descriptor `i`'s limits; results that need the counter store land later, `waiting` on them. */
  #evaluateDescriptor(
    match: DescriptorMatch,
    checked: CheckedRequest,
    i: number,
    replaced: ReadonlySet<string>,
    waiting: Promise<void>[],
    span: RequestSpan | undefined,
  ): Evaluated[] | undefined {
    if (match.kind !== "limited") return undefined;
    const hits = checked.descriptors[i]?.hits ?? 1;
    const limits = replaced.size === 0 ? match.limits : match.limits.filter((l) => !replaced.has(l.rule.name));
    const results: Evaluated[] = new Array(limits.length);
    limits.forEach((limit, j) => {
      const result = this.#evaluate(limit, hits, span);
      if (result instanceof Promise) {
        waiting.push(
          result.then((settled) => {
            results[j] = settled;
          }),
        );
      } else {
        results[j] = result;
      }
    });
    return results;
  }

  #respond(
    matches: readonly DescriptorMatch[],
    evaluated: readonly (readonly Evaluated[] | undefined)[],
  ): RateLimitAnswer {
    const failed = evaluated.some((list) => list?.some((e) => e.result.kind === "failed"));
    if (failed && this.#options.failureMode === "error")
      throw new GrpcError(GrpcStatus.UNAVAILABLE, "rate-limit counter store unavailable");
    const answers = matches.map((match, i) => this.#status(match, evaluated[i]));
    const overLimit = answers.some((a) => a.enforcedOver);
    const response: RateLimitAnswer = {
      overallCode: overLimit && !this.#options.globalShadowMode ? Code.OVER_LIMIT : Code.OK,
      statuses: answers.map((a) => a.status),
    };
    const names = this.#options.responseHeaders;
    const closest = names ? closestToLimit(answers) : undefined;
    if (names && closest?.counted.currentLimit && closest.unit !== undefined) {
      // The reset is the unit's window, as envoyproxy computes it for the header, whatever the status says.
      const nowSeconds = Math.floor(this.#options.clock.now() / 1000);
      const window = unitSeconds(closest.unit);
      response.responseHeadersToAdd = [
        { key: names.limit, value: String(closest.counted.currentLimit.requestsPerUnit ?? 0) },
        { key: names.remaining, value: String(closest.counted.limitRemaining ?? 0) },
        { key: names.reset, value: String(window - (nowSeconds % window)) },
      ];
    }
    return response;
  }

  #evaluate(limit: AppliedLimit, hits: number, span: RequestSpan | undefined): Evaluated | Promise<Evaluated> {
    const { rule } = limit;
    const cache = this.#options.overLimitCache;
    let cacheKey: string | undefined;
    if (cache && rule.algorithm === RateLimitAlgorithm.FIXED_WINDOW) {
      const now = this.#options.clock.now();
      cacheKey = fixedWindowKey(
        { counterKey: limit.counterKey, keyFormat: limit.keyFormat, windowSeconds: rule.windowSeconds },
        now,
      );
      if (cache.has(cacheKey)) {
        const resetSeconds = rule.windowSeconds - (Math.floor(now / 1000) % rule.windowSeconds);
        const outcome = { overLimit: true, remaining: 0, used: rule.requestsPerUnit, resetSeconds };
        this.#record(limit, hits, outcome, true);
        span?.addEvent("over-limit cache hit", { "gantry.ratelimit.rule": limit.statsName });
        return { limit, result: { kind: "counted", outcome, fromCache: true } };
      }
    }
    // The counter store's round trip (coalesced with other calls' hits in this turn) as a child span.
    const counted = span?.child("ratelimit counter", { "gantry.ratelimit.rule": limit.statsName });
    return this.#options.coalescer
      .hit({
        counterKey: limit.counterKey,
        keyFormat: limit.keyFormat,
        algorithm: rule.algorithm,
        limit: rule.requestsPerUnit,
        windowSeconds: rule.windowSeconds,
        hits,
      })
      .then(
        (outcome): Evaluated => {
          if (outcome.overLimit && cache && cacheKey !== undefined) {
            const windowEnd =
              (fixedWindowStart(this.#options.clock.now(), rule.windowSeconds) + rule.windowSeconds) * 1000;
            cache.add(cacheKey, windowEnd);
          }
          this.#record(limit, hits, outcome, false);
          if (counted) {
            counted.setAttribute("gantry.ratelimit.over_limit", outcome.overLimit);
            counted.end();
          }
          return { limit, result: { kind: "counted", outcome, fromCache: false } };
        },
        (err: unknown): Evaluated => {
          if (counted) {
            counted.fail(err instanceof Error ? err.message : String(err));
            counted.end();
          }
          return { limit, result: { kind: "failed" } };
        },
      );
  }

  #record(limit: AppliedLimit, hits: number, outcome: HitOutcome, fromCache: boolean): void {
    const stats = this.#options.metrics.rule(limit.statsName);
    stats.totalHits += hits;
    if (outcome.overLimit) {
      stats.overLimit += hits;
      if (fromCache) stats.overLimitWithLocalCache += hits;
      if (limit.rule.shadowMode) stats.shadowMode += hits;
    } else {
      stats.withinLimit += hits;
      if (outcome.used > Math.floor(limit.rule.requestsPerUnit * 0.8)) stats.nearLimit += hits;
    }
  }

  #status(match: DescriptorMatch, evaluated: readonly Evaluated[] | undefined): Answered {
    if (match.kind === "unlimited") {
      const status = { code: Code.OK, limitRemaining: unlimitedRemaining };
      return { status, counted: status, unit: undefined, enforcedOver: false };
    }
    const none = { code: Code.OK, limitRemaining: 0 };
    if (!evaluated || evaluated.length === 0)
      return { status: none, counted: none, unit: undefined, enforcedOver: false };
    let reported: { limit: AppliedLimit; outcome: HitOutcome } | undefined;
    let code = Code.OK;
    for (const { limit, result } of evaluated) {
      if (result.kind === "failed") {
        if (this.#options.failureMode !== "deny") continue;
        const outcome = { overLimit: true, remaining: 0, used: 0, resetSeconds: limit.rule.windowSeconds };
        if (code !== Code.OVER_LIMIT) reported = { limit, outcome };
        code = Code.OVER_LIMIT;
        continue;
      }
      const { outcome } = result;
      const enforced = outcome.overLimit && !limit.rule.shadowMode;
      if (enforced && code !== Code.OVER_LIMIT) {
        code = Code.OVER_LIMIT;
        reported = { limit, outcome };
      } else if (code !== Code.OVER_LIMIT && (!reported || outcome.remaining < reported.outcome.remaining)) {
        reported = { limit, outcome };
      }
    }
    if (!reported) {
      const status = { code, limitRemaining: 0 };
      return { status, counted: status, unit: undefined, enforcedOver: code === Code.OVER_LIMIT };
    }
    const { rule } = reported.limit;
    const currentLimit = { requestsPerUnit: rule.requestsPerUnit, unit: toResponseUnit(rule.unit), name: rule.name };
    const counted: DescriptorStatusAnswer = {
      code,
      currentLimit,
      limitRemaining: reported.outcome.remaining,
      durationUntilReset: { seconds: BigInt(reported.outcome.resetSeconds) },
    };
    // Quota mode: over is reported by the remaining count, but answered OK and without a reset time.
    if (code === Code.OVER_LIMIT && rule.quotaMode) {
      const status = { code: Code.OK, currentLimit, limitRemaining: reported.outcome.remaining };
      return { status, counted, unit: rule.unit, enforcedOver: false };
    }
    return { status: counted, counted, unit: rule.unit, enforcedOver: code === Code.OVER_LIMIT };
  }
}

/**
 * The answer response headers come from, as envoyproxy/ratelimit picks it: the last enforced over-limit
 * descriptor, else the first with the least remaining among those that carry a limit.
 */
function closestToLimit(answers: readonly Answered[]): Answered | undefined {
  let closest: Answered | undefined;
  let least = unlimitedRemaining;
  for (const answer of answers) {
    const remaining = answer.counted.limitRemaining ?? 0;
    if (answer.counted.currentLimit && remaining < least) {
      closest = answer;
      least = remaining;
    }
    if (answer.enforcedOver) {
      closest = answer;
      least = 0;
    }
  }
  return closest;
}
