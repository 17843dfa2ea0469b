import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:tls";
import { credentials } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createClient, GrpcServer } from "../../src/lib/grpc.js";
import { HealthService, ServingStatus } from "../../src/lib/health.js";
import { TlsFileWatch } from "../../src/lib/tls.js";
import { makeTlsFiles } from "../support/certs.js";
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
