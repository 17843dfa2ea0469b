// `gantry insights` and `gantry describe` against a running server, as a user runs them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore, type ResourceDocument } from "../../src/store/index.js";
import { runGantry } from "../support/cli.js";

const store = new MemoryStore();
let server: ManagementServer;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startManagementServer({
    store,
    host: "127.0.0.1",
    xdsPort: 0,
    apiPort: 0,
    apiToken: undefined,
    insecureApi: true,
    logger: createLogger({ service: "test", level: "silent" }),
    registry: createRegistry("server", { processMetrics: false }),
    debounce: { quietMs: 10, maxDelayMs: 100 },
  });
  env = {
    GANTRY_SERVER: `http://127.0.0.1:${server.apiPort}`,
    GANTRY_API_TOKEN: undefined,
    GANTRY_API_TOKEN_FILE: undefined,
  };
  const documents: ResourceDocument[] = [
    {
      apiVersion: "gantry/v1",
      kind: "Gateway",
      metadata: { name: "edge", namespace: "shop" },
      spec: { proxies: { labels: { app: "edge" } }, listeners: [{ port: 8080 }] },
    },
    {
      apiVersion: "gantry/v1",
      kind: "RouteTable",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        hosts: ["shop.example"],
        gateways: [{ name: "edge" }],
        http: [{ name: "all", forwardTo: { destinations: [{ destination: { name: "missing" } }], timeout: "5s" } }],
      },
    },
    {
      apiVersion: "gantry/v1",
      kind: "Destination",
      metadata: { name: "old", namespace: "shop" },
      spec: { ports: [{ number: 80 }], endpoints: [{ address: "10.0.0.1" }] },
    },
  ];
  await store.apply(documents);
  await server.settle();
});

afterAll(async () => {
  await server?.stop();
});

// Every run starts the CLI, which takes seconds on a loaded machine.
describe("gantry insights", { timeout: 240_000 }, () => {
  it("lists active insights as a table, filters them, and prints JSON", async () => {
    const table = await runGantry(["insights"], { env, timeoutMs: 90_000 });
    expect(table.stderr).toBe("");
    expect(table.stdout).toMatch(/^CODE\s+SEVERITY\s+TARGET/);
    expect(table.stdout).toMatch(/GTY0101\s+ERROR\s+RouteTable\/shop\/web/);
    expect(table.stdout).toMatch(/GTY0108\s+INFO\s+Destination\/shop\/old/);

    const json = await runGantry(["insights", "--severity", "ERROR", "-o", "json"], { env, timeoutMs: 90_000 });
    const parsed = JSON.parse(json.stdout) as { insights: { code: string; resolution: string; docsAnchor: string }[] };
    expect(parsed.insights.map((i) => i.code)).toEqual(["GTY0101"]);
    expect(parsed.insights[0]?.docsAnchor).toBe("gty0101");
    expect(parsed.insights[0]?.resolution).toMatch(/Create the referenced resource/);

    const byTarget = await runGantry(
      ["insights", "--kind", "Destination", "-n", "shop", "--name", "old", "-o", "json"],
      { env, timeoutMs: 90_000 },
    );
    expect((JSON.parse(byTarget.stdout) as { insights: { code: string }[] }).insights.map((i) => i.code)).toEqual([
      "GTY0108",
    ]);

    const bad = await runGantry(["insights", "--code", "GTY9"], { env, timeoutMs: 90_000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown insight code "GTY9"/);
  });

  it("silences for one target and unsilences", async () => {
    const silenced = await runGantry(
      [
        "insights",
        "silence",
        "gty0108",
        "--kind",
        "Destination",
        "-n",
        "shop",
        "--name",
        "old",
        "--reason",
        "going away",
      ],
      { env, timeoutMs: 90_000 },
    );
    expect(silenced.stdout).toBe("silenced GTY0108 for Destination/shop/old\n");
    expect((await runGantry(["insights"], { env, timeoutMs: 90_000 })).stdout).not.toMatch(/GTY0108/);
    expect((await runGantry(["insights", "--all"], { env, timeoutMs: 90_000 })).stdout).toMatch(/GTY0108.*silenced/);
    const removed = await runGantry(
      ["insights", "unsilence", "GTY0108", "--kind", "Destination", "-n", "shop", "--name", "old"],
      { env, timeoutMs: 90_000 },
    );
    expect(removed.stdout).toBe("unsilenced GTY0108\n");
    expect((await runGantry(["insights"], { env, timeoutMs: 90_000 })).stdout).toMatch(/GTY0108/);
  });

  it("describe shows a resource's insights", async () => {
    const described = await runGantry(["describe", "routetable", "web", "-n", "shop"], { env, timeoutMs: 90_000 });
    expect(described.stdout).toMatch(
      /Insights:\n\s+CODE\s+SEVERITY\s+SINCE\s+SUMMARY\n\s+GTY0101\s+ERROR\s+\S+\s+RouteTable shop\/web spec\.http\[0\]/,
    );
    const gateway = await runGantry(["describe", "gateway", "edge", "-n", "shop"], { env, timeoutMs: 90_000 });
    expect(gateway.stdout).toMatch(/Insights:\n\s+<none>/);
  });
});
