import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { type Any, anyPack, type Duration, DurationSchema } from "@bufbuild/protobuf/wkt";
import { ApiVersion, type ConfigSource, ConfigSourceSchema } from "../../gen/envoy/config/core/v3/config_source_pb.js";

/** HTTP filter names, as Envoy and grpc-js register them. */
export const filterNames = {
  cors: "envoy.filters.http.cors",
  fault: "envoy.filters.http.fault",
  extAuthz: "envoy.filters.http.ext_authz",
  rateLimit: "envoy.filters.http.ratelimit",
  router: "envoy.filters.http.router",
} as const;

/** The clusters of Gantry's own data-plane services. */
export const serviceClusters = { extAuth: "gantry-extauth", rateLimit: "gantry-ratelimit" } as const;

/** Everything comes over the same ADS stream. */
export function adsConfigSource(): ConfigSource {
  return create(ConfigSourceSchema, {
    configSourceSpecifier: { case: "ads", value: {} },
    resourceApiVersion: ApiVersion.V3,
  });
}

export function pack<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Any {
  return anyPack(schema, create(schema, init) as MessageShape<S>);
}

export function duration(ms: number): Duration {
  return create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
}

/** A map with its keys in sorted order, so that its encoding is deterministic. */
export function sortedRecord<V>(entries: Iterable<[string, V]>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const [k, v] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = v;
  return out;
}
