import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { credentials } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createClient, GrpcServer } from "../../src/lib/grpc.js";
import { channelCredentials } from "../../src/lib/grpc-tls.js";
import { HealthService, ServingStatus } from "../../src/lib/health.js";
import { TlsFileWatch } from "../../src/lib/tls.js";
import { makeCa, makeTlsFiles } from "../support/certs.js";
import { waitFor } from "../support/wait.js";

/** The subject of the certificate a fresh TLS connection to `port` is shown. */
async function servedSubject(port: number, ca: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols: ["h2"] }, () => {
      resolve(socket.getPeerX509Certificate()?.subject ?? "");
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

describe("grpc-js server (ADS) with a TlsFileWatch", () => {
  it("takes a rotated certificate for new connections while an open stream goes on", async () => {
    const files = await makeTlsFiles();
    const clock = new ManualClock();
    const watch = new TlsFileWatch(
      { certFile: files.certFile, keyFile: files.keyFile, clientCaFile: files.caFile, reloadIntervalMs: 1_000 },
      { timers: clock },
    );
    const server = new GrpcServer({ tls: watch });
    const health = new HealthService();
    health.register(server);
    const port = await server.listen("127.0.0.1", 0);
    const client = createClient(Health, `localhost:${port}`, {
      credentials: credentials.createSsl(
        readFileSync(files.caFile),
        readFileSync(files.clientKeyFile),
        readFileSync(files.clientCertFile),
      ),
    });
    try {
      const seen: ServingStatus[] = [];
      const stream = client.watch({ service: "ads" });
      stream.on("data", (response) => seen.push(response.status));
      stream.on("error", () => {});
      health.set("ads", ServingStatus.SERVING);
      await waitFor(() => seen.length === 1, { what: "the first health status over mTLS" });

      const next = await files.ca.issue({ name: "rotated" });
      writeFileSync(files.certFile, next.cert);
      writeFileSync(files.keyFile, next.key);
      clock.advance(1_000);
      await waitFor(async () => (await servedSubject(port, files.ca.cert)) === "CN=rotated", {
        what: "the rotated certificate on a new connection",
      });

      health.set("ads", ServingStatus.NOT_SERVING);
      await waitFor(() => seen.length === 2, { what: "the stream opened before the rotation to go on" });
      expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
      stream.cancel();
    } finally {
      client.close();
      await server.shutdown(0);
    }
  });
});

describe("grpc-js client credentials (channelCredentials)", () => {
  it("take a rotated client certificate and CA for new connections, and skip a half-written rotation", async () => {
    const files = await makeTlsFiles();
    // The server trusts client certificates of `clientCaFile` only; the client trusts `caFile`.
    const clientCaFile = join(files.dir, "client-ca.pem");
    writeFileSync(clientCaFile, files.ca.cert);
    const serverClock = new ManualClock();
    const watch = new TlsFileWatch(
      { certFile: files.certFile, keyFile: files.keyFile, clientCaFile, reloadIntervalMs: 1_000 },
      { timers: serverClock },
    );
    const server = new GrpcServer({ tls: watch });
    const health = new HealthService();
    health.register(server);
    health.set("ads", ServingStatus.SERVING);
    const port = await server.listen("127.0.0.1", 0);
    const clientClock = new ManualClock();
    const tls = channelCredentials(
      { caFile: files.caFile, certFile: files.clientCertFile, keyFile: files.clientKeyFile, reloadIntervalMs: 1_000 },
      undefined,
      { timers: clientClock },
    );
    // Each check on a new channel, so on a new connection (as a reconnect makes).
    const check = async () => {
      const client = createClient(Health, `localhost:${port}`, {
        credentials: tls.credentials,
        // Not a connection another channel with the same credentials left open.
        channelOptions: { "grpc.use_local_subchannel_pool": 1 },
      });
      try {
        return (await client.check({ service: "ads" }, { timeoutMs: 10_000 })).status;
      } catch (err) {
        return (err as Error).message;
      } finally {
        client.close();
      }
    };
    try {
      expect(await check()).toBe(ServingStatus.SERVING);

      // The client CA rotates: the server takes only certificates of the new one...
      const next = await makeCa("Rotated Client CA");
      writeFileSync(clientCaFile, next.cert);
      serverClock.advance(1_000);
      expect(await check()).not.toBe(ServingStatus.SERVING);
      // ...and a half-written rotation (a new certificate, the old key) is skipped, not taken.
      const rotated = await next.issue({ client: true });
      writeFileSync(files.clientCertFile, rotated.cert);
      clientClock.advance(1_000);
      expect(tls.check()).toBe(false);
      writeFileSync(files.clientKeyFile, rotated.key);
      clientClock.advance(1_000);
      expect(await check()).toBe(ServingStatus.SERVING);
    } finally {
      tls.stop();
      await server.shutdown(0);
      rmSync(files.dir, { recursive: true, force: true });
    }
  });

  it("without a CA file, trusts what Node trusts by default: its roots and NODE_EXTRA_CA_CERTS", async () => {
    const files = await makeTlsFiles();
    const watch = new TlsFileWatch({ certFile: files.certFile, keyFile: files.keyFile }, { timers: new ManualClock() });
    const server = new GrpcServer({ tls: watch });
    const health = new HealthService();
    health.register(server);
    health.set("ads", ServingStatus.SERVING);
    const port = await server.listen("127.0.0.1", 0);
    const before = process.env["NODE_EXTRA_CA_CERTS"];
    process.env["NODE_EXTRA_CA_CERTS"] = files.caFile;
    const tls = channelCredentials({}, undefined, { timers: new ManualClock() });
    const client = createClient(Health, `localhost:${port}`, { credentials: tls.credentials });
    try {
      expect((await client.check({ service: "ads" }, { timeoutMs: 10_000 })).status).toBe(ServingStatus.SERVING);
    } finally {
      if (before === undefined) delete process.env["NODE_EXTRA_CA_CERTS"];
      else process.env["NODE_EXTRA_CA_CERTS"] = before;
      client.close();
      tls.stop();
      await server.shutdown(0);
      rmSync(files.dir, { recursive: true, force: true });
    }
  });

  it("names the flag and the file of a file it cannot read", () => {
    expect(() => channelCredentials({ caFile: "/nonexistent/ca.pem" })).toThrow(
      "--xds-ca-file /nonexistent/ca.pem: no such file",
    );
  });
});
