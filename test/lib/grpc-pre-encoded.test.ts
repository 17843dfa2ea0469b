import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import {
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { createClient, GrpcServer, writeEncoded } from "../../src/lib/grpc.js";
import { ResponseQueue } from "../xds/harness.js";

// A handler may write a message it encoded itself, in parts: grpc-js frames it as it frames what it
// serializes (this pins the contract `writeEncoded` relies on in grpc-js's serializeMessage).

let server: GrpcServer | undefined;
afterEach(async () => {
  await server?.shutdown(0);
  server = undefined;
});

describe("writeEncoded", () => {
  it("writes the parts joined as one message, small or spanning many frames, and says when it is written", async () => {
    const big = new Uint8Array(200 * 1024).fill(7);
    const body = toBinary(
      DiscoveryResponseSchema,
      create(DiscoveryResponseSchema, { versionInfo: "v1", typeUrl: "t", resources: [{ typeUrl: "t", value: big }] }),
    );
    const nonce = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { nonce: "1-1" }));
    const written: number[] = [];
    server = new GrpcServer().add(AggregatedDiscoveryService, {
      streamAggregatedResources: (call) => {
        call.on("data", () => {
          writeEncoded(call, [body, nonce], () => written.push(1));
          writeEncoded(call, [nonce], () => written.push(2));
        });
      },
      deltaAggregatedResources: (call) => call.end(),
    });
    const port = await server.listen("127.0.0.1", 0);
    const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${port}`);
    try {
      const call = client.streamAggregatedResources();
      const responses = new ResponseQueue<DiscoveryResponse>(call);
      call.write({ typeUrl: "t" });
      const first = await responses.next();
      expect(first.versionInfo).toBe("v1");
      expect(first.nonce).toBe("1-1");
      expect(new Uint8Array(first.resources[0]?.value ?? [])).toEqual(big);
      const second = await responses.next();
      expect(second.nonce).toBe("1-1");
      expect(second.resources).toEqual([]);
      expect(written).toEqual([1, 2]);
      call.end();
    } finally {
      client.close();
    }
  });
});
