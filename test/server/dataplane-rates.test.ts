// DataPlaneRates: ext-auth and rate-limit decisions over the window, from a Prometheus HTTP API
// (here a stand-in answering instant queries by metric); FAILED_PRECONDITION without one.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrometheusSource } from "../../src/insights/index.js";
import { startManagementApi } from "../../src/server/api/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { untranslatedDeps } from "./api-deps.js";

const token = "rates-test-token-0123456789abcdef";
/** Answers each instant query with a value chosen by what it counts. */
function countFor(query: string): string | undefined {
  if (query.includes('result=~"deny"')) return "30";
  if (query.includes('result=~"error|unknown_config"')) return "3";
  if (query.includes("gantry_extauth_checks_total")) return "300";
  if (query.includes("gantry_ratelimit_rule_total_hits")) return "600";
  if (query.includes("gantry_ratelimit_rule_over_limit")) return "60";
  return undefined;
}

describe("DataPlaneRates", () => {
  let prometheus: Server;
  const closes: Array<() => Promise<void>> = [];
  const ports = { with: 0, without: 0 };

  beforeAll(async () => {
    prometheus = createServer((request, response) => {
      const query = new URL(request.url ?? "/", "http://p").searchParams.get("query") ?? "";
      const value = countFor(query);
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify({
          status: "success",
          data: { resultType: "vector", result: value ? [{ metric: {}, value: [0, value] }] : [] },
        }),
      );
    });
    await new Promise<void>((resolve) => prometheus.listen(0, "127.0.0.1", resolve));
    const source = new PrometheusSource(`http://127.0.0.1:${(prometheus.address() as AddressInfo).port}`);
    const deps = () => untranslatedDeps(new MemoryStore());
    const withRates = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token,
      deps: { ...deps(), dataPlane: () => source.sample() },
    });
    const without = await startManagementApi({ host: "127.0.0.1", port: 0, token, deps: deps() });
    ports.with = withRates.port;
    ports.without = without.port;
    closes.push(
      () => withRates.close(),
      () => without.close(),
    );
  });
  afterAll(async () => {
    for (const close of closes) await close();
    await new Promise<void>((resolve) => prometheus.close(() => resolve()));
  });

  const call = async (port: number) => {
    const response = await fetch(`http://127.0.0.1:${port}/gantry.api.v1.ManagementService/DataPlaneRates`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: "{}",
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  it("answers the window's decisions as Prometheus counts them", async () => {
    expect(await call(ports.with)).toEqual({
      status: 200,
      body: {
        windowSeconds: 300,
        extAuth: { total: 300, denied: 30, errors: 3 },
        rateLimit: { total: 600, overLimit: 60 },
      },
    });
  });

  it("says how to get them without Prometheus", async () => {
    expect(await call(ports.without)).toEqual({
      status: 400,
      body: {
        code: "failed_precondition",
        message: "this server reads no data-plane metrics: start it with --prometheus-url",
      },
    });
  });
});
