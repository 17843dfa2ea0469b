// A wildcard subscription is answered even when no resource of its type exists, once the node has a
// snapshot (xDS protocol: the client's initialization waits for that first answer); a subscription
// by name to something that does not exist is not.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.js";
import { DeltaClient, probe, SotwClient, startTestServer, type TestServer } from "./harness.js";

/** A type the snapshots here never hold (as RateLimitConfigs before any policy exists). */
const configs = "type.googleapis.com/ratelimit.config.ratelimit.v3.RateLimitConfig";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

/** Waits until the server has read a request of `typeUrl` from `node` (nothing can be answered before a snapshot). */
async function requested(node: string, typeUrl: string): Promise<void> {
  await waitFor(() => server.requests.some((r) => r.node === node && r.typeUrl === typeUrl), {
    what: `${node}'s ${typeUrl} request`,
  });
}

describe("a wildcard subscription to a type with no resources", () => {
  it("SotW: answered empty once the node's first snapshot is there; then with the set as it changes", async () => {
    const client = SotwClient.open(server, "sotw-empty");
    client.send({ typeUrl: configs });
    await requested("sotw-empty", configs);
    expect(client.responses.buffered).toBe(0);

    server.cache.setSnapshot("sotw-empty", [probe("p")]);
    const first = await client.next();
    expect({ typeUrl: first.typeUrl, resources: first.resources.length }).toEqual({ typeUrl: configs, resources: 0 });
    expect(first.versionInfo).not.toBe("");
    client.ack(first);
    await client.expectQuiet();

    // A named subscription to a missing name of the same type still waits for it.
    const named = SotwClient.open(server, "sotw-empty");
    named.send({ typeUrl: configs, resourceNames: ["missing"] });
    await named.expectQuiet();
    named.close();
    client.close();
  });

  it("delta: answered empty, whether wildcard by no names or by `*`", async () => {
    server.cache.setSnapshot("delta-empty", [probe("p")]);
    for (const names of [[], ["*"]]) {
      const client = DeltaClient.open(server, "delta-empty");
      client.send({ typeUrl: configs, resourceNamesSubscribe: names });
      const first = await client.next();
      expect({ typeUrl: first.typeUrl, resources: first.resources.length, removed: first.removedResources }).toEqual({
        typeUrl: configs,
        resources: 0,
        removed: [],
      });
      client.ack(first);
      await client.expectQuiet();
      client.close();
    }
  });
});
