import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { runGantry } from "../support/cli.js";
import { freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const document = (name: string, port: number) => ({
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name, namespace: "shop" },
  spec: { ports: [{ number: port }], endpoints: [{ address: "10.0.0.1" }] },
});
const destination = (name: string, port: number) => `apiVersion: gantry/v1
kind: Destination
metadata:
  name: ${name}
  namespace: shop
spec:
  ports: [{ number: ${port} }]
  endpoints: [{ address: 10.0.0.1 }]
`;

/** Issue 17, problems 7 and 8, as an operator meets them: `gantry server` on a Redis that hangs (SIGSTOP). */
describe.skipIf(!haveRedis())("gantry server with its Redis hung", () => {
  let redis: RedisServer;
  let proc: ManagedProcess;
  let dir = "";
  let api = "";
  let metrics = "";

  const readyz = async () => {
    const response = await fetch(`${metrics}/readyz`);
    return { status: response.status, text: await response.text() };
  };
  const publishedRevision = async () =>
    Number(
      /^gantry_published_revision(?:\{[^}]*\})? (\d+)$/m.exec(await (await fetch(`${metrics}/metrics`)).text())?.[1],
    );
  const gantry = (...args: string[]) =>
    runGantry([...args, "--server", api], { env: { GANTRY_API_TOKEN: undefined }, timeoutMs: 60_000 });

  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), "gantry-redis-hung-"));
    const [xdsPort, apiPort, metricsPort] = await freePorts(3);
    api = `http://127.0.0.1:${apiPort}`;
    metrics = `http://127.0.0.1:${metricsPort}`;
    proc = await startProcess({
      name: "gantry server",
      command: process.execPath,
      args: [
        bin,
        "server",
        "--host",
        "127.0.0.1",
        "--xds-port",
        String(xdsPort),
        "--api-port",
        String(apiPort),
        "--metrics-port",
        String(metricsPort),
        "--insecure-api",
        "--redis-url",
        redis.url,
        "--redis-timeout-ms",
        "300",
        "--log-level",
        "warn",
      ],
      ready: async () => (await fetch(`${metrics}/readyz`)).status === 200,
      // Starting node on the shared 2-core machine can take tens of seconds under load.
      readyTimeoutMs: 60_000,
    });
  });

  afterAll(async () => {
    await proc?.stop();
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports an apply as failed and never stores or serves it; /readyz says not ready until Redis answers", {
    timeout: 120_000,
  }, async () => {
    const client = createClient(ManagementService, createConnectTransport({ baseUrl: api, httpVersion: "1.1" }));
    await waitFor(async () => (await readyz()).text === "ready\nmanagement redis: ok\n", {
      what: "/readyz to be ready",
    });
    await client.apply({ documents: [document("cart", 8080)] });
    await waitFor(async () => (await publishedRevision()) >= 1, { what: "the first apply to be published" });
    const before = await publishedRevision();

    writeFileSync(join(dir, "orders.yaml"), destination("orders", 9090));
    redis.pause();
    let hung: { status: number; text: string };
    let applied: Awaited<ReturnType<typeof gantry>>;
    try {
      hung = await readyz();
      applied = await gantry("apply", "-f", join(dir, "orders.yaml"));
    } finally {
      redis.resume();
    }
    expect(hung.status).toBe(503);
    expect(hung.text).toMatch(/^not ready: .*no answer within 300 ms\n/);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain("nothing was changed");

    await waitFor(async () => (await readyz()).status === 200, { what: "/readyz to recover once Redis answers" });
    const orders = await client
      .get({ ref: { kind: "Destination", namespace: "shop", name: "orders" } })
      .catch((err: unknown) => err);
    expect(ConnectError.from(orders).code).toBe(Code.NotFound);
    expect(await publishedRevision()).toBe(before);

    // The same apply, with Redis answering, is stored and served.
    const again = await client.apply({ documents: [document("orders", 9090)] });
    expect(again.changed).toHaveLength(1);
    await waitFor(async () => (await publishedRevision()) > before, { what: "the apply to be published" });
  });
});
