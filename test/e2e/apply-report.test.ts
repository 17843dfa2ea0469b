// `gantry apply` and `gantry apply --dry-run`, the built command, against a real management server
// on loopback: the lines it prints per resource, its exit status, and that a dry run stores nothing.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { State } from "../../src/translate/index.js";
import { runGantry } from "../support/cli.js";

const token = "e2e-apply-token-0123456789abcdef";
/** Each test runs the built command two or three times, a few seconds each on a busy machine. */
const cliTimeoutMs = 90_000;

const shop = (apiMatcher: string) => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: edge, namespace: e2e }
spec:
  proxies: { labels: { gateway: e2e } }
  listeners: [{ port: 8080 }]
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: web, namespace: e2e }
spec:
  ports: [{ number: 8080 }]
  endpoints: [{ address: 10.0.0.1 }]
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: shop, namespace: e2e }
spec:
  hosts: [shop.example.com]
  gateways: [{ name: edge }]
  http:
    - name: api
      matchers: [${apiMatcher}]
      forwardTo: { destinations: [{ destination: { name: web } }] }
    - name: v1
      matchers: [{ prefix: /api/v1 }]
      forwardTo: { destinations: [{ destination: { name: web } }] }
    - name: legacy
      matchers: [{ prefix: /legacy }]
      forwardTo: { destinations: [{ destination: { name: old } }] }
---
apiVersion: gantry/v1
kind: RetryTimeoutPolicy
metadata: { name: slow, namespace: e2e }
spec:
  applyToRoutes: [{ route: { labels: { tier: slow } } }]
  timeout: 30s
`;

const legacyWarning =
  "  warning: spec.http[2] (legacy): spec.http[2].forwardTo.destinations[0].destination: Destination e2e/old not found or invalid; the route answers 500\n";
const shadowWarning =
  "  warning: route e2e/shop/v1 is never reached: route e2e/shop/api comes before it and matches every request it matches\n";

describe("gantry apply: a line per resource, its status after translation, warnings", () => {
  const store = new MemoryStore();
  let server: ManagementServer;
  let dir = "";
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const gantry = (args: string[]) =>
    runGantry([...args, "--server", `http://127.0.0.1:${server.apiPort}`], {
      env: { GANTRY_API_TOKEN: token, GANTRY_API_TOKEN_FILE: undefined, GANTRY_SERVER: undefined },
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-apply-"));
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: token,
      logger: createLogger({ service: "e2e", level: "silent" }),
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "--dry-run prints what apply would do, with statuses and warnings, and stores nothing",
    async () => {
      const result = await gantry(["apply", "--dry-run", "-f", file("shop.yaml", shop("{ regex: /api/.* }"))]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe(
        "gateway/e2e/edge created (dry run)\n  status: Accepted\n" +
          "destination/e2e/web created (dry run)\n  status: Accepted\n" +
          `routetable/e2e/shop created (dry run)\n  status: Accepted\n${legacyWarning}${shadowWarning}` +
          "retrytimeoutpolicy/e2e/slow created (dry run)\n  status: Accepted\n  warning: selects no routes\n",
      );
      expect(await store.list()).toEqual([]);
      expect((await store.snapshot()).revision).toBe(0);
    },
    cliTimeoutMs,
  );

  it(
    "applies: created, then unchanged; the statuses printed are those the server publishes",
    async () => {
      const path = file("shop.yaml", shop("{ regex: /api/.* }"));
      const first = await gantry(["apply", "-f", path]);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain("routetable/e2e/shop created\n  status: Accepted\n");
      expect(first.stdout).toContain(shadowWarning);
      expect((await store.list()).length).toBe(4);
      await server.settle();
      expect(server.status({ kind: "RouteTable", namespace: "e2e", name: "shop" })?.state).toBe(State.WARNING);

      const again = await gantry(["apply", "-f", path]);
      expect(again.code).toBe(0);
      expect(again.stdout.split("\n").filter((l) => !l.startsWith(" "))).toEqual([
        "gateway/e2e/edge unchanged",
        "destination/e2e/web unchanged",
        "routetable/e2e/shop unchanged",
        "retrytimeoutpolicy/e2e/slow unchanged",
        "",
      ]);
    },
    cliTimeoutMs,
  );

  it(
    "exits 2 when the translator rejects a resource: a dry run stores nothing, an apply stores it and the last good version keeps serving",
    async () => {
      const before = await store.snapshot();
      const path = file("bad.yaml", shop('{ regex: "^/api(?=/)" }'));
      const dry = await gantry(["apply", "--dry-run", "-f", path]);
      expect(dry.code).toBe(2);
      expect(dry.stdout).toContain("gateway/e2e/edge unchanged (dry run)\n  status: Accepted\n");
      expect(dry.stdout).toContain("routetable/e2e/shop configured (dry run)\n  status: Rejected\n");
      expect(dry.stdout).toMatch(/\n {2}reason: spec\.http\[0\] \(api\): matchers\[0\]\.regex: invalid regex: .*\(\?=/);
      expect(dry.stdout).toContain("  reason: its last accepted version keeps serving\n");
      expect(dry.stderr).toContain(
        "1 resource(s) rejected by the translator (dry run: nothing was stored): RouteTable/e2e/shop",
      );
      expect((await store.snapshot()).revision).toBe(before.revision);

      const applied = await gantry(["apply", "-f", path, "-o", "json"]);
      expect(applied.code).toBe(2);
      const report = JSON.parse(applied.stdout) as {
        dryRun: boolean;
        resources: Array<{
          kind: string;
          name: string;
          action: string;
          status: string;
          state: string;
          reasons: string[];
        }>;
      };
      expect(report.dryRun).toBe(false);
      const table = report.resources.find((r) => r.kind === "RouteTable");
      expect(table).toMatchObject({ name: "shop", action: "configured", status: "Rejected", state: "INVALID" });
      expect((await store.snapshot()).revision).toBeGreaterThan(before.revision);
      await server.settle();
      const published = server.status({ kind: "RouteTable", namespace: "e2e", name: "shop" });
      expect(published?.state).toBe(State.INVALID);
      expect(published?.messages).toEqual(table?.reasons);
    },
    cliTimeoutMs,
  );
});
