import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { createTlsServer, loadTlsFiles, TlsFileError, TlsFileWatch } from "../../src/lib/tls.js";
import { makeTlsFiles, type TlsTestFiles } from "../support/certs.js";

let files: TlsTestFiles;
beforeAll(async () => {
  files = await makeTlsFiles();
});

function write(name: string, text: string): string {
  const file = join(files.dir, name);
  writeFileSync(file, text);
  return file;
}

describe("loadTlsFiles", () => {
  it("takes a certificate, its key and a client CA", () => {
    const material = loadTlsFiles({ certFile: files.certFile, keyFile: files.keyFile, clientCaFile: files.caFile });
    expect(material.cert.toString()).toBe(files.server.cert);
    expect(material.clientCa?.toString()).toBe(files.ca.cert);
  });

  it("names the flag and the file that is missing", () => {
    expect(() => loadTlsFiles({ certFile: join(files.dir, "nope.pem"), keyFile: files.keyFile })).toThrow(
      `--tls-cert-file ${join(files.dir, "nope.pem")}: no such file`,
    );
    expect(() =>
      loadTlsFiles({
        certFile: files.certFile,
        keyFile: files.keyFile,
        clientCaFile: files.dir,
        flags: { cert: "--xds-tls-cert-file", key: "--xds-tls-key-file", clientCa: "--xds-tls-client-ca-file" },
      }),
    ).toThrow(`--xds-tls-client-ca-file ${files.dir}: is a folder, not a file`);
  });

  it("says which file is not PEM", () => {
    const notPem = write("not-pem.txt", "hello");
    expect(() => loadTlsFiles({ certFile: notPem, keyFile: files.keyFile })).toThrow(
      `--tls-cert-file ${notPem}: no PEM certificate`,
    );
    const broken = write("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    expect(() => loadTlsFiles({ certFile: broken, keyFile: files.keyFile })).toThrow(
      `--tls-cert-file ${broken}: certificate 1 is not a valid X.509 certificate`,
    );
    expect(() => loadTlsFiles({ certFile: files.certFile, keyFile: files.keyFile, clientCaFile: notPem })).toThrow(
      `--tls-client-ca-file ${notPem}: no PEM certificate`,
    );
  });

  it("refuses a bad key without showing any of it", () => {
    // A key whose body was damaged: the error must not quote a byte of it.
    const damaged = files.server.key.replace(/\n[A-Za-z0-9+/]{20}/, "\nSECRETSECRETSECRET12");
    const keyFile = write("damaged-key.pem", damaged);
    let message = "";
    try {
      loadTlsFiles({ certFile: files.certFile, keyFile });
    } catch (err) {
      expect(err).toBeInstanceOf(TlsFileError);
      message = (err as Error).message;
    }
    expect(message).toBe(`--tls-key-file ${keyFile}: not a PEM private key (an encrypted key is not supported)`);
    expect(message).not.toContain("SECRET");
  });

  it("refuses a key that does not match the certificate", () => {
    expect(() => loadTlsFiles({ certFile: files.certFile, keyFile: files.clientKeyFile })).toThrow(
      `--tls-key-file ${files.clientKeyFile}: the key does not match the certificate in ${files.certFile}`,
    );
  });
});

/** The subject of the certificate a fresh TLS connection to `port` is shown. */
async function servedCertificate(port: number, ca: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      resolve(socket.getPeerX509Certificate()?.subject ?? "");
      socket.end();
    });
    socket.on("error", reject);
  });
}

describe("TlsFileWatch", () => {
  it("serves a rotated certificate to new connections and keeps established ones", async () => {
    const rotating = await makeTlsFiles();
    const clock = new ManualClock();
    const watch = new TlsFileWatch(
      { certFile: rotating.certFile, keyFile: rotating.keyFile, reloadIntervalMs: 1_000 },
      { timers: clock },
    );
    const server = createTlsServer(watch, ["x-test"], (socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const before = await servedCertificate(port, rotating.ca.cert);
      expect(before).toContain("CN=localhost");
      const established = connect({ host: "127.0.0.1", port, ca: rotating.ca.cert, servername: "localhost" });
      await new Promise((resolve) => established.once("secureConnect", resolve));

      // Half a rotation (a new certificate, the old key) is refused; the old certificate stays.
      const next = await rotating.ca.issue({ name: "rotated" });
      writeFileSync(rotating.certFile, next.cert);
      clock.advance(1_000);
      expect(watch.current.cert.toString()).toBe(rotating.server.cert);
      expect(await servedCertificate(port, rotating.ca.cert)).toBe(before);

      writeFileSync(rotating.keyFile, next.key);
      clock.advance(1_000);
      expect(watch.current.cert.toString()).toBe(next.cert);
      const after = await servedCertificate(port, rotating.ca.cert);
      expect(after).toContain("CN=rotated");

      // The connection made before the rotation still carries data.
      const echoed = new Promise<string>((resolve) =>
        established.once("data", (chunk: Buffer) => resolve(String(chunk))),
      );
      established.write("still here");
      expect(await echoed).toBe("still here");
      established.destroy();
    } finally {
      watch.stop();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
