import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runGantry } from "../support/cli.js";

const server = (args: string[]) =>
  runGantry(["server", "--host", "127.0.0.1", "--insecure-api", ...args], { timeoutMs: 30_000 });

describe("gantry server's Kubernetes flags are checked before any port opens", () => {
  it("names a kubeconfig it cannot read", async () => {
    const missing = join("/nonexistent", "kubeconfig");
    const result = await server(["--kubeconfig", missing]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--kubeconfig ${missing}:`);
    expect(result.stdout).not.toContain("gantry server started");
  });

  it("refuses two clusters, and flags that need a cluster without one", async () => {
    const [both, alone, namespace, lease, short] = await Promise.all([
      server(["--kubeconfig", "k", "--kube-in-cluster"]),
      server(["--admission-port", "9443", "--admission-webhook-config", "gantry"]),
      server(["--kube-namespace", "shop"]),
      server(["--lease-namespace", "gantry"]),
      server(["--kubeconfig", "k", "--lease-duration-seconds", "2"]),
    ]);
    expect(lease.stderr).toContain("--lease-namespace needs --kubeconfig or --kube-in-cluster");
    expect(short.stderr).toContain("--lease-duration-seconds: at least 3 (got 2)");
    expect(both.stderr).toContain("--kubeconfig and --kube-in-cluster name two clusters");
    expect(alone.stderr).toContain("--admission-webhook-config needs --admission-port and --kubeconfig");
    expect(namespace.stderr).toContain("--kube-namespace needs --kubeconfig or --kube-in-cluster");
  });

  it("refuses a Lease name or duration given without a cluster, by flag or environment, but not their defaults", async () => {
    const [name, duration, byEnv, withCluster] = await Promise.all([
      server(["--lease-name", "elsewhere"]),
      server(["--lease-duration-seconds", "30"]),
      runGantry(["server", "--host", "127.0.0.1", "--insecure-api"], {
        env: { GANTRY_LEASE_NAME: "elsewhere" },
        timeoutMs: 30_000,
      }),
      // With a cluster, the Lease name passes; what stops this one is the kubeconfig it cannot read.
      server(["--kubeconfig", join("/nonexistent", "kubeconfig"), "--lease-name", "elsewhere"]),
    ]);
    for (const [result, flag] of [
      [name, "--lease-name"],
      [duration, "--lease-duration-seconds"],
      [byEnv, "--lease-name"],
    ] as const) {
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${flag} needs --kubeconfig or --kube-in-cluster`);
      expect(result.stdout).not.toContain("gantry server started");
    }
    expect(withCluster.code).toBe(1);
    expect(withCluster.stderr).toContain("--kubeconfig /nonexistent/kubeconfig:");
    expect(withCluster.stderr).not.toContain("--lease-name");
  });
});
