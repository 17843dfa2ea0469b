import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { XdsClient } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";

const run = promisify(execFile);
const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const logger = createLogger({ service: "test", level: "silent" });

describe("gantry up (npm start): everything in one process on embedded defaults", () => {
  let child: ChildProcess;
  let output = "";
  const ports: Record<string, number> = {};
  let token = "";

  beforeAll(async () => {
    const zeroPorts = ["xds", "api", "metrics", "extauth", "extauth-metrics", "ratelimit", "ratelimit-metrics"].flatMap(
      (name) => [`--${name}-port`, "0"],
    );
    child = spawn(process.execPath, [bin, "up", ...zeroPorts], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitFor(() => output.includes("Ctrl-C stops everything."), {
      what: "gantry up to print its summary",
      timeoutMs: 20_000,
    });
    const port = (label: string) =>
      Number(new RegExp(`${label}\\s+(?:http://)?127\\.0\\.0\\.1:(\\d+)`).exec(output)?.[1]);
    ports["api"] = port("management API");
    ports["xds"] = port("xDS \\(ADS\\)");
    ports["ratelimit"] = port("rate limit");
    ports["extauth"] = port("ext-auth");
    ports["metrics"] = port("metrics");
    token = /export GANTRY_API_TOKEN=(\S+)/.exec(output)?.[1] ?? "";
  });

  afterAll(async () => {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  });

  it("prints where everything runs and how to connect", () => {
    expect(ports["api"]).toBeGreaterThan(0);
    expect(ports["xds"]).toBeGreaterThan(0);
    expect(token.length).toBeGreaterThanOrEqual(16);
    expect(output).toMatch(
      /gantry bootstrap --node-id gw-1 --role gateway --labels gateway=basic --xds-address 127\.0\.0\.1:\d+/,
    );
  });

  it("serves the examples through the management API", async () => {
    const { stdout } = await run(
      process.execPath,
      [bin, "get", "gateways", "--server", `http://127.0.0.1:${ports["api"]}`],
      {
        env: { ...process.env, GANTRY_API_TOKEN: token },
      },
    );
    expect(stdout).toMatch(/Gateway\s+basic\s+public\s+ACCEPTED/);
  });

  it("serves a gateway proxy its listeners over xDS", async () => {
    const proxy = new XdsClient({
      server: `127.0.0.1:${ports["xds"]}`,
      node: { id: "gw-1", cluster: "gateways", metadata: { role: "gateway", labels: { gateway: "basic" } } },
      logger,
    });
    let listeners: string[] = [];
    proxy.subscribe(ListenerSchema, {
      onUpdate: (resources) => {
        listeners = [...resources.keys()];
      },
    });
    proxy.start();
    try {
      await waitFor(() => listeners.length > 0, { what: "listeners" });
      expect(listeners[0]).toMatch(/^basic\/public\//);
    } finally {
      await proxy.stop();
    }
  });

  it("feeds the rate-limit server the example policy over xDS", async () => {
    const client = createClient(RateLimitService, `127.0.0.1:${ports["ratelimit"]}`);
    try {
      await waitFor(
        async () =>
          (
            await client.shouldRateLimit({
              domain: "store",
              descriptors: [{ entries: [{ key: "api_key", value: "k1" }] }],
            })
          ).statuses[0]?.currentLimit?.requestsPerUnit === 10,
        { what: "the example's 10/s api_key limit" },
      );
    } finally {
      client.close();
    }
  });

  it("feeds the ext-auth server the example auth config over xDS", async () => {
    const client = createClient(Authorization, `127.0.0.1:${ports["extauth"]}`);
    const check = (password: string) =>
      client.check({
        attributes: {
          contextExtensions: { config_id: "policies/users" },
          request: {
            http: {
              method: "GET",
              path: "/account",
              headers: { authorization: `Basic ${Buffer.from(`member:${password}`).toString("base64")}` },
            },
          },
        },
      });
    try {
      await waitFor(async () => (await check("change-me")).status?.code === 0, { what: "the example auth config" });
      expect((await check("wrong")).status?.code).not.toBe(0);
    } finally {
      client.close();
    }
  });

  it("serves metrics, and stops cleanly on Ctrl-C", async () => {
    const metrics = await fetch(`http://127.0.0.1:${ports["metrics"]}/metrics`);
    expect(await metrics.text()).toContain("gantry_translations_total");
    child.kill("SIGINT");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    expect(output).toContain("stopped");
  });
});
