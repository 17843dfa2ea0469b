// A workload cluster's name is one rule wherever the CLI takes one (an agent's --cluster is a DNS
// label): a dotted name is refused by `gantry cluster add` before it reaches any server, and by
// `gantry bootstrap --cluster`, which would otherwise write a node no placement could select.
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGantry } from "../support/cli.js";

describe("cluster names in the CLI", { timeout: 60_000 }, () => {
  let listener: Server;
  let connections = 0;
  let server = "";

  beforeAll(async () => {
    // Stands where a management server would be, to show that nothing is sent to it.
    listener = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const address = listener.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    server = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  });

  it("`gantry cluster add` refuses a name that is not a DNS label, without calling the server", async () => {
    const [dotted, long] = await Promise.all([
      runGantry(["cluster", "add", "east.eu", "--server", server], { env: { GANTRY_API_TOKEN: "t".repeat(32) } }),
      runGantry(["cluster", "add", "a".repeat(64), "--server", server], { env: { GANTRY_API_TOKEN: "t".repeat(32) } }),
    ]);
    expect(dotted.code).toBe(1);
    expect(dotted.stderr).toContain('name "east.eu": must be a DNS label');
    expect(long.code).toBe(1);
    expect(long.stderr).toContain(`name "${"a".repeat(64)}": must be a DNS label`);
    expect(connections).toBe(0);
  });

  it("`gantry bootstrap --cluster` refuses a dotted name, for Envoy and gRPC alike", async () => {
    const [envoy, grpc, good] = await Promise.all([
      runGantry(["bootstrap", "--node-id", "n", "--role", "gateway", "--cluster", "east.eu"]),
      runGantry(["bootstrap", "--format", "grpc", "--node-id", "n", "--cluster", "east.eu"]),
      runGantry(["bootstrap", "--format", "grpc", "--node-id", "n", "--cluster", "east-eu"]),
    ]);
    for (const result of [envoy, grpc]) {
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('--cluster: "east.eu" is not a cluster name: it must be a DNS label');
    }
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout).node.cluster).toBe("east-eu");
  });
});
