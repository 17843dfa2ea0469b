import { afterEach, describe, expect, it } from "vitest";
import { Counter, createRegistry } from "../../src/lib/metrics.js";
import { type Readiness, startTelemetryServer, type TelemetryServer } from "../../src/lib/telemetry.js";

describe("telemetry server", () => {
  let server: TelemetryServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("serves /metrics, /healthz and /readyz", async () => {
    const registry = createRegistry("test-service");
    const counter = new Counter({ name: "gantry_test_things_total", help: "things", registers: [registry] });
    counter.inc(3);
    let readiness: Readiness = { ready: false, reason: "no config yet" };
    server = await startTelemetryServer({ registry, port: 0, host: "127.0.0.1", readiness: () => readiness });
    const base = `http://127.0.0.1:${server.port}`;

    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('gantry_test_things_total{service="test-service"} 3');
    expect(text).toContain("gantry_process_cpu_user_seconds_total");

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toContain("no config yet");
    readiness = { ready: true };
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("reports not-ready, with detail, when the readiness check does not answer within its deadline", async () => {
    const registry = createRegistry("test-service");
    let readiness: () => Promise<Readiness> = () => new Promise<Readiness>(() => {});
    server = await startTelemetryServer({
      registry,
      port: 0,
      host: "127.0.0.1",
      readiness: () => readiness(),
      readinessTimeoutMs: 50,
    });
    const base = `http://127.0.0.1:${server.port}`;
    const hung = await fetch(`${base}/readyz`);
    expect(hung.status).toBe(503);
    expect(await hung.text()).toBe("not ready: readiness check did not answer within 50 ms\n");
    readiness = async () => ({ ready: true, detail: ["redis: ok"] });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe("ready\nredis: ok\n");
  });
});
