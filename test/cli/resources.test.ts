import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startManagementApi } from "../../src/server/api/index.js";
import { DesiredState } from "../../src/server/desired-state.js";
import { MemoryStore } from "../../src/store/index.js";
import { runGantry } from "../support/cli.js";
import { freePort } from "../support/ports.js";

const run = promisify(execFile);
const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const token = "cli-test-token-0123456789";

const destinations = `apiVersion: gantry/v1
kind: Destination
metadata:
  name: cart
  namespace: shop
  labels: { team: shop }
spec:
  ports: [{ number: 8080 }]
  endpoints: [{ address: 10.0.0.1 }]
---
apiVersion: gantry/v1
kind: Destination
metadata:
  name: payments
  namespace: shop
spec:
  ports: [{ number: 9090 }]
  endpoints: [{ address: 10.0.0.2 }]
`;

const broken = `apiVersion: gantry/v1
kind: Destination
metadata:
  name: fine
spec:
  ports: [{ number: 1 }]
---
apiVersion: gantry/v1
kind: Destination
metadata:
  name: broken
spec:
  ports: [{ number: 1 }]
  colour: blue
`;

describe("gantry apply / get / delete against a running management API", () => {
  const store = new MemoryStore();
  let api: Awaited<ReturnType<typeof startManagementApi>>;
  let dir = "";
  let server = "";

  const gantry = (args: string[], env: NodeJS.ProcessEnv = { GANTRY_API_TOKEN: token }) =>
    runGantry([...args, "--server", server], { env: { GANTRY_API_TOKEN: undefined, ...env } });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-cli-"));
    writeFileSync(join(dir, "destinations.yaml"), destinations);
    writeFileSync(join(dir, "broken.yaml"), broken);
    api = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token,
      deps: {
        store,
        desired: new DesiredState(store),
        status: () => undefined,
        proxies: () => [],
        describe: () => {
          throw new Error("describe is tested in describe.test.ts");
        },
      },
    });
    server = `http://127.0.0.1:${api.port}`;
  });

  afterAll(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("applies a file, then reports it unchanged", async () => {
    const first = await gantry(["apply", "-f", join(dir, "destinations.yaml")]);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      "destination/shop/cart created\n  status: Accepted\ndestination/shop/payments created\n  status: Accepted\n",
    );
    const second = await gantry(["apply", "-f", join(dir, "destinations.yaml")]);
    expect(second.stdout).toContain("destination/shop/cart unchanged\n");
  });

  it("rejects a file with a bad document whole, naming file, line and field", async () => {
    const result = await gantry(["apply", "-f", join(dir, "broken.yaml")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("nothing was applied");
    expect(result.stderr).toMatch(/broken\.yaml:\d+: Destination default\/broken: spec\.colour/);
    expect(await store.get({ kind: "Destination", namespace: "default", name: "fine" })).toBeUndefined();
  });

  it("lists and shows resources as a table, YAML or JSON", async () => {
    const table = await gantry(["get", "destinations"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^KIND\s+NAMESPACE\s+NAME\s+STATUS\s+REVISION$/);
    expect(table.stdout).toMatch(/Destination\s+shop\s+cart\s+PENDING/);
    const json = await gantry(["get", "Destination", "cart", "-n", "shop", "-o", "json"]);
    const doc = JSON.parse(json.stdout) as { metadata: { labels: Record<string, string> }; spec: unknown };
    expect(doc.metadata.labels).toEqual({ team: "shop" });
    expect(doc.spec).toEqual({ ports: [{ number: 8080 }], endpoints: [{ address: "10.0.0.1" }] });
    const yaml = await gantry(["get", "destination", "-o", "yaml"]);
    expect(yaml.stdout).toContain("name: payments");
    const unknown = await gantry(["get", "widgets"]);
    expect(unknown.stderr).toContain('unknown kind "widgets"');
  });

  it("deletes by name and by file", async () => {
    const byName = await gantry(["delete", "destination", "payments", "nope", "-n", "shop"]);
    expect(byName.stdout).toBe("Destination/shop/payments deleted\nDestination/shop/nope not found\n");
    const byFile = await gantry(["delete", "-f", join(dir, "destinations.yaml")]);
    expect(byFile.stdout).toContain("Destination/shop/cart deleted");
    expect((await store.list()).length).toBe(0);
  });

  it("lists proxies", async () => {
    const result = await gantry(["get", "proxies"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("No resources.\n");
  });

  it("explains a missing token and an unreachable server", async () => {
    const noToken = await gantry(["get", "destinations"], {});
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("missing bearer token");
    const port = await freePort();
    const { stderr } = await run(process.execPath, [bin, "get", "gateways", "--server", `http://127.0.0.1:${port}`], {
      env: { ...process.env, GANTRY_API_TOKEN: token },
    }).catch((e: { stderr: string }) => e);
    expect(stderr).toContain(`cannot reach the Gantry server at http://127.0.0.1:${port}`);
  });
});
