import { type RateLimitResponse, RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient, createLogger, type ManualClock, type ServiceClient } from "../../src/lib/index.js";
import {
  parseRateLimitYaml,
  type RateLimitServer,
  type RateLimitServerOptions,
  startRateLimitServer,
} from "../../src/ratelimit/index.js";

export type Entries = Array<[key: string, value: string]>;

export interface DescriptorInput {
  entries: Entries;
  limit?: { requestsPerUnit: number; unit: number };
}

export interface Harness {
  readonly server: RateLimitServer;
  readonly client: ServiceClient<(typeof RateLimitService)["method"]>;
  /** One ShouldRateLimit call; a descriptor is its entries, or an object with an override. */
  call(domain: string, descriptors: Array<Entries | DescriptorInput>, hitsAddend?: number): Promise<RateLimitResponse>;
  /** Fetches /metrics and returns the value of one series (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export function yamlConfigs(...files: string[]) {
  return files.map((text, i) => parseRateLimitYaml(text, `test-${i}.yaml`));
}

/** Starts a rate-limit server on free loopback ports with a client. Quiet logs unless a test fails. */
export async function startHarness(options: RateLimitServerOptions & { clock?: ManualClock } = {}): Promise<Harness> {
  const server = await startRateLimitServer({
    host: "127.0.0.1",
    grpcPort: 0,
    metricsPort: 0,
    logger: createLogger({ service: "ratelimit-test", level: "silent" }),
    ...options,
  });
  const client = createClient(RateLimitService, `127.0.0.1:${server.grpcPort}`);
  return {
    server,
    client,
    call: (domain, descriptors, hitsAddend = 0) =>
      client.shouldRateLimit({
        domain,
        hitsAddend,
        descriptors: descriptors.map((d) => {
          const input = Array.isArray(d) ? { entries: d } : d;
          return {
            entries: input.entries.map(([key, value]) => ({ key, value })),
            ...(input.limit ? { limit: input.limit } : {}),
          };
        }),
      }),
    async metric(name, labels = {}) {
      const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
      for (const line of text.split("\n")) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
        if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
          return Number(line.split(" ").at(-1));
      }
      return 0;
    },
    async close() {
      client.close();
      await server.stop();
    },
  };
}
