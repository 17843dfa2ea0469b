// Redis analyzers: unreachable (GTY0501), slow (GTY0502), memory near maxmemory (GTY0503),
// evictions (GTY0504). Pure over a probe: a PING's latency and INFO's memory and stats fields,
// with the previous probe for counters.
import type { Finding, Target } from "../types.js";

export type RedisProbe =
  | { readonly reachable: false; readonly error: string }
  | {
      readonly reachable: true;
      readonly pingMs: number;
      /** INFO's used_memory and maxmemory (0: no limit), bytes. */
      readonly usedMemory: number;
      readonly maxMemory: number;
      /** INFO's evicted_keys, a counter since the server started. */
      readonly evictedKeys: number;
    };

export interface RedisThresholds {
  readonly slowMs: number;
  /** Fraction of maxmemory. */
  readonly memoryRatio: number;
}

export const defaultRedisThresholds: RedisThresholds = { slowMs: 100, memoryRatio: 0.9 };

/** The fields of `INFO memory` and `INFO stats` the analyzer reads, from INFO's text. */
export function parseRedisInfo(info: string): { usedMemory: number; maxMemory: number; evictedKeys: number } {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1] ?? 0);
  return { usedMemory: field("used_memory"), maxMemory: field("maxmemory"), evictedKeys: field("evicted_keys") };
}

function mib(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MiB`;
}

export function analyzeRedis(
  role: string,
  probe: RedisProbe,
  previous: RedisProbe | undefined,
  t: RedisThresholds = defaultRedisThresholds,
): Finding[] {
  const target: Target = { kind: "Redis", namespace: "", name: role };
  if (!probe.reachable) {
    return [
      { code: "GTY0501", targets: [target], args: { role, error: probe.error }, evidence: { error: probe.error } },
    ];
  }
  const out: Finding[] = [];
  if (probe.pingMs >= t.slowMs) {
    const latency = `${Math.round(probe.pingMs)}ms`;
    out.push({
      code: "GTY0502",
      targets: [target],
      args: { role, latency },
      evidence: { pingMs: String(probe.pingMs) },
    });
  }
  if (probe.maxMemory > 0 && probe.usedMemory >= probe.maxMemory * t.memoryRatio) {
    out.push({
      code: "GTY0503",
      targets: [target],
      args: {
        role,
        percent: `${Math.round((probe.usedMemory / probe.maxMemory) * 100)}%`,
        used: mib(probe.usedMemory),
        max: mib(probe.maxMemory),
      },
      evidence: { usedMemory: String(probe.usedMemory), maxMemory: String(probe.maxMemory) },
    });
  }
  // A counter that went down means Redis restarted: no evictions can be told from it.
  if (previous?.reachable && probe.evictedKeys > previous.evictedKeys) {
    const count = String(probe.evictedKeys - previous.evictedKeys);
    out.push({
      code: "GTY0504",
      targets: [target],
      args: { role, count },
      evidence: { evictedKeys: String(probe.evictedKeys), before: String(previous.evictedKeys) },
    });
  }
  return out;
}
