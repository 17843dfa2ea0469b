import { statSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EnrollError, enroll } from "../../src/agent/enroll.js";
import { loadAgentCredentials, relayChannelOptions } from "../../src/cluster/index.js";
import { RegistrationService } from "../../src/gen/gantry/relay/v1/registration_pb.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createClient } from "../../src/lib/grpc.js";
import { waitFor } from "../support/index.js";
import { agentClient, failures, relayClient, startTestRelay, type TestRelay } from "./relay-harness.js";

// Registration end to end on loopback: a relay port with the RegistrationService and a stand-in
// stream that checks callers as the relay does; agents enroll with `enroll()` as `gantry agent` does.

let relay: TestRelay;

beforeEach(async () => {
  relay = await startTestRelay();
});

afterEach(async () => {
  await relay.close();
});

async function refusal(promise: Promise<unknown>): Promise<EnrollError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EnrollError);
  return err as EnrollError;
}

async function callError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeDefined();
  return err as grpc.ServiceError;
}

describe("registration", () => {
  it("enrolls with a token and then connects with mTLS as its cluster", async () => {
    const { token } = await relay.registry.add("east");
    const dataDir = relay.dir();
    const agent = await enroll({ relay: relay.address, tokenFile: relay.tokenFile(token), dataDir, cluster: "east" });
    expect(agent.cluster).toBe("east");
    expect(agent.identity).toBe("spiffe://gantry.local/cluster/east");
    for (const file of ["cluster-identity.pem", "relay-ca.pem"]) {
      expect(statSync(join(dataDir, file)).mode & 0o777).toBe(0o600);
    }
    const client = agentClient(relay.address, agent);
    await client.check({ service: "east" }, { timeoutMs: 5_000 });
    client.close();
    expect(relay.peers).toEqual([agent.certificate.serial]);
    const view = await relay.registry.get("east");
    expect(view?.state).toBe("registered");
    expect(view?.certificate?.serial).toBe(agent.certificate.serial);
    // A restarted agent starts from its data dir: no token needed.
    const again = await enroll({ relay: relay.address, dataDir, cluster: "east" });
    expect(again.certificate.serial).toBe(agent.certificate.serial);
  });

  it("refuses a reused token", async () => {
    const { token } = await relay.registry.add("east");
    const tokenFile = relay.tokenFile(token);
    await enroll({ relay: relay.address, tokenFile, dataDir: relay.dir(), cluster: "east" });
    const err = await refusal(enroll({ relay: relay.address, tokenFile, dataDir: relay.dir(), cluster: "east" }));
    expect(err.reason).toBe("token_used");
    expect(err.message).toMatch(/already used at .*single-use/);
    expect(await failures(relay.metrics, "token_used")).toBe(1);
  });

  it("refuses an expired token", async () => {
    const { token } = await relay.registry.add("east", 60_000);
    relay.advance(60_001);
    const err = await refusal(
      enroll({ relay: relay.address, tokenFile: relay.tokenFile(token), dataDir: relay.dir(), cluster: "east" }),
    );
    expect(err.reason).toBe("token_expired");
    expect(err.message).toMatch(/registration token expired at/);
    expect(await failures(relay.metrics, "token_expired")).toBe(1);
  });

  it("refuses a relay whose CA is not the one the token pins, before sending the token", async () => {
    const { token } = await relay.registry.add("east");
    const wrongPin = `${token.slice(0, -64)}${"0".repeat(64)}`;
    const err = await refusal(
      enroll({ relay: relay.address, tokenFile: relay.tokenFile(wrongPin), dataDir: relay.dir(), cluster: "east" }),
    );
    expect(err.reason).toBe("ca_mismatch");
    expect(err.message).toContain(`it presents sha256 ${relay.registry.ca.pin}`);
    // Nothing reached the server: the token is still good.
    expect((await relay.registry.get("east"))?.state).toBe("pending");
  });

  it("refuses a token for another cluster, and a certificate used as another cluster", async () => {
    const east = await relay.registry.add("east");
    await relay.registry.add("west");
    const local = await refusal(
      enroll({ relay: relay.address, tokenFile: relay.tokenFile(east.token), dataDir: relay.dir(), cluster: "west" }),
    );
    expect(local.reason).toBe("cluster_mismatch");
    const agent = await enroll({
      relay: relay.address,
      tokenFile: relay.tokenFile(east.token),
      dataDir: relay.dir(),
      cluster: "east",
    });
    const client = agentClient(relay.address, agent);
    const err = await callError(client.check({ service: "west" }, { timeoutMs: 5_000 }));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toBe(
      "cluster_mismatch: the caller says it is cluster west, but its certificate is cluster east's",
    );
    const registration = createClient(RegistrationService, relay.address, {
      credentials: agent.channelCredentials(),
      channelOptions: relayChannelOptions,
    });
    const rotate = await callError(registration.rotate({ cluster: "west", csrPem: "x" }, { timeoutMs: 5_000 }));
    expect(rotate.details).toMatch(/^cluster_mismatch: /);
    registration.close();
    client.close();
    expect(await failures(relay.metrics, "cluster_mismatch")).toBe(2);
  });

  it("refuses callers without a cluster certificate", async () => {
    const credentials = grpc.credentials.createSsl(Buffer.from(relay.registry.ca.certPem));
    const client = relayClient(relay.address, credentials);
    const err = await callError(client.check({}, { timeoutMs: 5_000 }));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toMatch(/^certificate_missing: the relay needs a cluster certificate/);
    client.close();
    expect(await failures(relay.metrics, "certificate_missing")).toBe(1);
  });

  it("refuses a removed cluster's certificate and token", async () => {
    const first = await relay.registry.add("east");
    const agent = await enroll({
      relay: relay.address,
      tokenFile: relay.tokenFile(first.token),
      dataDir: relay.dir(),
      cluster: "east",
    });
    const pending = await relay.registry.add("west");
    await relay.registry.remove("east");
    await relay.registry.remove("west");
    const client = agentClient(relay.address, agent);
    const err = await callError(client.check({}, { timeoutMs: 5_000 }));
    expect(err.details).toMatch(/^cluster_revoked: cluster east was removed at /);
    client.close();
    const unused = await refusal(
      enroll({
        relay: relay.address,
        tokenFile: relay.tokenFile(pending.token),
        dataDir: relay.dir(),
        cluster: "west",
      }),
    );
    expect(unused.reason).toBe("cluster_revoked");
    // Registered again: a new token works, the old certificate stays refused.
    const second = await relay.registry.add("east");
    await enroll({
      relay: relay.address,
      tokenFile: relay.tokenFile(second.token),
      dataDir: relay.dir(),
      cluster: "east",
    });
    const old = agentClient(relay.address, agent);
    const stale = await callError(old.check({}, { timeoutMs: 5_000 }));
    expect(stale.details).toMatch(/^certificate_revoked: /);
    old.close();
    expect(await failures(relay.metrics, "cluster_revoked")).toBe(2);
    expect(await failures(relay.metrics, "certificate_revoked")).toBe(1);
  });
});

describe("rotation", () => {
  it("rotates without dropping an open stream; new connections carry the new certificate", async () => {
    const { token } = await relay.registry.add("east");
    const dataDir = relay.dir();
    const agent = await enroll({ relay: relay.address, tokenFile: relay.tokenFile(token), dataDir, cluster: "east" });
    const before = agent.certificate.serial;
    const client = agentClient(relay.address, agent);
    const stream = client.watch({ service: "east" });
    let received = 0;
    let ended: unknown;
    stream.on("data", () => received++);
    stream.on("error", (err) => (ended = err));
    await waitFor(() => received === 1, { what: "the stream's first message" });

    const after = await agent.rotate(relay.address);
    expect(after.serial).not.toBe(before);
    expect(loadAgentCredentials(dataDir, "east").certificate.serial).toBe(after.serial);
    relay.push();
    await waitFor(() => received === 2, { what: "a message on the stream opened before the rotation" });
    expect(ended).toBeUndefined();

    const fresh = agentClient(relay.address, agent, true);
    await fresh.check({}, { timeoutMs: 5_000 });
    expect(relay.peers).toEqual([before, after.serial]);
    fresh.close();
    expect((await relay.registry.get("east"))?.certificate?.serial).toBe(after.serial);
    stream.cancel();
    client.close();
  });

  it("rotates by itself at two thirds of the certificate's lifetime, and again after", async () => {
    const { token } = await relay.registry.add("east");
    const agent = await enroll({
      relay: relay.address,
      tokenFile: relay.tokenFile(token),
      dataDir: relay.dir(),
      cluster: "east",
    });
    const first = agent.certificate;
    const clock = new ManualClock(Date.now());
    const rotated: string[] = [];
    const stop = agent.keepRotated({ relay: relay.address, timers: clock, onRotated: (c) => rotated.push(c.serial) });
    const twoThirds = first.notBeforeMs + ((first.notAfterMs - first.notBeforeMs) * 2) / 3;
    clock.advance(twoThirds - clock.now() - 1_000);
    expect(rotated).toEqual([]);
    clock.advance(1_000);
    await waitFor(() => rotated.length === 1, { what: "the first rotation" });
    expect(rotated[0]).toBe(agent.certificate.serial);
    expect((await relay.registry.get("east"))?.certificate?.serial).toBe(rotated[0]);
    clock.advance(Math.max(0, agent.rotateAtMs - clock.now()));
    await waitFor(() => rotated.length === 2, { what: "the second rotation" });
    stop();
  });
});
