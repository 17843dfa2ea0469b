// The metrics port serves HTTPS with the same TLS files and checks as the other ports
// (--metrics-tls-cert-file, --metrics-tls-key-file, --metrics-tls-client-ca-file).
import { readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { get as httpsGet, type RequestOptions } from "node:https";
import { afterEach, describe, expect, it } from "vitest";
import { createRegistry } from "../../src/lib/metrics.js";
import { startTelemetryServer, type TelemetryServer } from "../../src/lib/telemetry.js";
import { TlsFileWatch } from "../../src/lib/tls.js";
import { makeTlsFiles, type TlsTestFiles } from "../support/certs.js";

let telemetry: TelemetryServer | undefined;
afterEach(async () => {
  await telemetry?.close();
  telemetry = undefined;
});

/** GET over HTTPS: the status and body, or the error that ended it. */
function httpsStatus(port: number, options: RequestOptions): Promise<{ status: number; body: string } | Error> {
  return new Promise((resolve) => {
    const req = httpsGet({ host: "127.0.0.1", port, path: "/healthz", timeout: 5_000, ...options }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", (err) => resolve(err));
    req.on("timeout", () => req.destroy(new Error("timed out")));
  });
}

async function start(files: TlsTestFiles, clientCa: boolean): Promise<number> {
  const tls = new TlsFileWatch({
    certFile: files.certFile,
    keyFile: files.keyFile,
    ...(clientCa ? { clientCaFile: files.caFile } : {}),
  });
  telemetry = await startTelemetryServer({
    registry: createRegistry("test", { processMetrics: false }),
    host: "127.0.0.1",
    port: 0,
    tls,
  });
  return telemetry.port;
}

describe("the metrics port over TLS", () => {
  it("answers /healthz over HTTPS to a client that trusts the CA, and not plaintext HTTP", async () => {
    const files = await makeTlsFiles();
    const port = await start(files, false);
    expect(await httpsStatus(port, { ca: readFileSync(files.caFile) })).toEqual({ status: 200, body: "ok\n" });
    const plain = await new Promise<number | Error>((resolve) => {
      const req = httpGet({ host: "127.0.0.1", port, path: "/healthz", timeout: 5_000 }, (res) =>
        resolve(res.statusCode ?? 0),
      );
      req.on("error", (err) => resolve(err));
      req.on("timeout", () => req.destroy(new Error("timed out")));
    });
    expect(plain).toBeInstanceOf(Error);
  });

  it("with a client CA, answers only a scraper that shows a certificate it signed", async () => {
    const files = await makeTlsFiles();
    const port = await start(files, true);
    const ca = readFileSync(files.caFile);
    expect(await httpsStatus(port, { ca })).toBeInstanceOf(Error);
    const mutual = await httpsStatus(port, {
      ca,
      cert: readFileSync(files.clientCertFile),
      key: readFileSync(files.clientKeyFile),
    });
    expect(mutual).toEqual({ status: 200, body: "ok\n" });
  });
});
