import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { createClient, GrpcStatus } from "../../../src/lib/grpc.js";
import { Http2GrpcServer } from "../../../src/lib/grpc-server/index.js";
import { HealthService, ServingStatus } from "../../../src/lib/health.js";
import { createLogger } from "../../../src/lib/logger.js";
import { TlsFileWatch } from "../../../src/lib/tls.js";
import { makeCa, makeTlsFiles, type TlsTestFiles } from "../../support/certs.js";

const logger = createLogger({ service: "test", level: "silent" });
let files: TlsTestFiles;
let server: Http2GrpcServer | undefined;

beforeAll(async () => {
  files = await makeTlsFiles();
});
afterEach(async () => {
  await server?.shutdown(0);
  server = undefined;
});

async function serve(mutual: boolean): Promise<number> {
  const tls = new TlsFileWatch({
    certFile: files.certFile,
    keyFile: files.keyFile,
    ...(mutual ? { clientCaFile: files.caFile } : {}),
  });
  server = new Http2GrpcServer({ logger, tls });
  new HealthService().register(server);
  return server.listen("127.0.0.1", 0);
}

async function check(port: number, creds: ReturnType<typeof credentials.createSsl>) {
  const client = createClient(Health, `localhost:${port}`, { credentials: creds });
  try {
    return await client.check({ service: "" }, { timeoutMs: 5_000 });
  } finally {
    client.close();
  }
}

const ca = () => readFileSync(files.caFile);

describe("Http2GrpcServer over TLS", () => {
  it("answers a grpc-js client that trusts its CA (ALPN h2)", async () => {
    const port = await serve(false);
    expect((await check(port, credentials.createSsl(ca()))).status).toBe(ServingStatus.SERVING);
  });

  it("is refused by a plaintext client", async () => {
    const port = await serve(false);
    await expect(check(port, credentials.createInsecure())).rejects.toMatchObject({
      code: GrpcStatus.UNAVAILABLE,
    });
  });

  it("with a client CA, answers a client with a certificate it signed and refuses one without", async () => {
    const port = await serve(true);
    const withCert = credentials.createSsl(ca(), readFileSync(files.clientKeyFile), readFileSync(files.clientCertFile));
    expect((await check(port, withCert)).status).toBe(ServingStatus.SERVING);
    await expect(check(port, credentials.createSsl(ca()))).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
  });

  it("refuses a client certificate from another CA", async () => {
    const port = await serve(true);
    const stranger = await (await makeCa("Stranger CA")).issue({ client: true });
    const creds = credentials.createSsl(ca(), Buffer.from(stranger.key), Buffer.from(stranger.cert));
    await expect(check(port, creds)).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
  });
});
