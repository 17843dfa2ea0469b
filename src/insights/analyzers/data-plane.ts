// Data-plane analyzers, periodic over metric increases in a window: rate-limit over-limit spikes
// (GTY0401), ext-auth error and deny ratios (GTY0402, GTY0403), rate-limit Redis fallbacks (GTY0404).
// Pure: where the numbers come from (Prometheus, or Gantry's own registries) is metric-sources.ts.
import type { Finding, Target } from "../types.js";

/** Increases over the last window; undefined where nothing reports (the service does not run). */
export interface DataPlaneSample {
  readonly windowSeconds: number;
  readonly rateLimit?: { readonly total: number; readonly overLimit: number; readonly redisErrors: number };
  readonly extAuth?: { readonly total: number; readonly errors: number; readonly denied: number };
}

export interface DataPlaneThresholds {
  /** Below this many requests in the window, ratios say nothing. */
  readonly minRequests: number;
  readonly overLimitRatio: number;
  readonly extAuthErrorRatio: number;
  readonly extAuthDenyRatio: number;
}

export const defaultDataPlaneThresholds: DataPlaneThresholds = {
  minRequests: 20,
  overLimitRatio: 0.25,
  extAuthErrorRatio: 0.05,
  extAuthDenyRatio: 0.5,
};

function service(name: string): Target {
  return { kind: "Service", namespace: "", name };
}

function percent(part: number, whole: number): string {
  return `${Math.round((part / whole) * 1000) / 10}%`;
}

export function analyzeDataPlane(
  sample: DataPlaneSample,
  t: DataPlaneThresholds = defaultDataPlaneThresholds,
): Finding[] {
  const window = `${Math.round(sample.windowSeconds)}s`;
  const out: Finding[] = [];
  const rl = sample.rateLimit;
  if (rl && rl.total >= t.minRequests && rl.overLimit / rl.total >= t.overLimitRatio) {
    out.push({
      code: "GTY0401",
      targets: [service("ratelimit")],
      args: { ratio: percent(rl.overLimit, rl.total), window },
      evidence: { overLimit: String(rl.overLimit), total: String(rl.total), window },
    });
  }
  if (rl && rl.redisErrors > 0) {
    out.push({
      code: "GTY0404",
      targets: [service("ratelimit")],
      args: { count: String(Math.round(rl.redisErrors)), window },
      evidence: { redisErrors: String(rl.redisErrors), window },
    });
  }
  const ea = sample.extAuth;
  if (ea && ea.total >= t.minRequests) {
    const evidence = { errors: String(ea.errors), denied: String(ea.denied), total: String(ea.total), window };
    if (ea.errors / ea.total >= t.extAuthErrorRatio) {
      out.push({
        code: "GTY0402",
        targets: [service("extauth")],
        args: { ratio: percent(ea.errors, ea.total), window },
        evidence,
      });
    }
    if (ea.denied / ea.total >= t.extAuthDenyRatio) {
      out.push({
        code: "GTY0403",
        targets: [service("extauth")],
        args: { ratio: percent(ea.denied, ea.total), window },
        evidence,
      });
    }
  }
  return out;
}
