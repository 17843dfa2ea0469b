import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  DeltaDiscoveryResponseSchema,
  DiscoveryResponseSchema,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ResponseEncodings, withNonce } from "../../src/xds/encoding.js";
import { probe, probeType } from "./harness.js";

describe("shared response encodings", () => {
  it("encodes a SotW response once per content; each stream's copy differs only by its nonce", () => {
    const encodings = new ResponseEncodings();
    const body = [probe("a"), probe("b")];
    const shared = encodings.sotw(probeType, "v1", body, true);
    expect(encodings.sotw(probeType, "v1", [...body], true)).toBe(shared);
    const decoded = fromBinary(DiscoveryResponseSchema, Buffer.concat(withNonce(shared, "7-3")));
    expect(decoded.versionInfo).toBe("v1");
    expect(decoded.typeUrl).toBe(probeType);
    expect(decoded.nonce).toBe("7-3");
    expect(decoded.resources.map((r) => [r.typeUrl, new TextDecoder().decode(r.value)])).toEqual([
      [probeType, "a"],
      [probeType, "b"],
    ]);
    expect(fromBinary(DiscoveryResponseSchema, Buffer.concat(withNonce(shared, "9-1"))).nonce).toBe("9-1");
  });

  it("writes the nonce field as the schema encodes it, short or long", () => {
    for (const nonce of ["1-1", "12345-67890", "n".repeat(300), "é-ü"]) {
      const field = new Uint8Array(withNonce(new Uint8Array(), nonce)[1] ?? []);
      expect(field).toEqual(toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { nonce })));
      expect(field).toEqual(toBinary(DeltaDiscoveryResponseSchema, create(DeltaDiscoveryResponseSchema, { nonce })));
    }
  });

  it("keeps a partial body apart from the whole set of the same version", () => {
    const encodings = new ResponseEncodings();
    const whole = encodings.sotw(probeType, "v1", [probe("a"), probe("b")], true);
    const part = encodings.sotw(probeType, "v1", [probe("b")], false);
    expect(part).not.toBe(whole);
    expect(fromBinary(DiscoveryResponseSchema, part).resources).toHaveLength(1);
    expect(encodings.sotw(probeType, "v1", [probe("a")], false)).not.toBe(part);
  });

  it("encodes a delta response by its updates and removals", () => {
    const encodings = new ResponseEncodings();
    const shared = encodings.delta(probeType, "s1", [probe("a")], ["gone"]);
    expect(encodings.delta(probeType, "s1", [probe("a")], ["gone"])).toBe(shared);
    expect(encodings.delta(probeType, "s1", [probe("a")], [])).not.toBe(shared);
    const decoded = fromBinary(DeltaDiscoveryResponseSchema, Buffer.concat(withNonce(shared, "1-1")));
    expect(decoded.systemVersionInfo).toBe("s1");
    expect(decoded.nonce).toBe("1-1");
    expect(decoded.removedResources).toEqual(["gone"]);
    expect(decoded.resources.map((r) => [r.name, r.version])).toEqual([["a", probe("a").version]]);
  });

  it("keeps at most its byte bound, dropping the least recently used", () => {
    const encodings = new ResponseEncodings(250);
    const first = encodings.sotw(probeType, "v1", [probe("a".repeat(40))], true);
    const second = encodings.sotw(probeType, "v2", [probe("b".repeat(40))], true);
    expect(encodings.sotw(probeType, "v2", [probe("b".repeat(40))], true)).toBe(second);
    // Both (about 130 bytes each) do not fit in 250 bytes: the first was dropped and is encoded again.
    const again = encodings.sotw(probeType, "v1", [probe("a".repeat(40))], true);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
