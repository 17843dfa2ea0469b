import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runGantry } from "../support/cli.js";

// The agent's discovery flags are checked before it registers or opens a port.

const gantry = (...args: string[]) => runGantry(args, { timeoutMs: 100_000 });

describe("gantry agent discovery flags", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-agent-flags-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = ["agent", "--cluster", "east", "--relay", "127.0.0.1:1", "--data-dir", join(dir, "data")];

  it("refuses two discovery sources, and a kubeconfig it cannot read, naming the flag and file", {
    timeout: 200_000,
  }, async () => {
    const both = await gantry(...base, "--discovery-dir", dir, "--kubeconfig", join(dir, "kubeconfig"));
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("--discovery-dir and --kubeconfig: give one discovery source");

    const missing = await gantry(...base, "--kubeconfig", join(dir, "nope.yaml"));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`--kubeconfig ${join(dir, "nope.yaml")}:`);

    writeFileSync(join(dir, "empty.yaml"), "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");
    const empty = await gantry(...base, "--kubeconfig", join(dir, "empty.yaml"));
    expect(empty.stderr).toContain(`--kubeconfig ${join(dir, "empty.yaml")}: its current context names no cluster`);

    const outside = await gantry(...base, "--kube-in-cluster");
    expect(outside.stderr).toContain("KUBERNETES_SERVICE_HOST is not set (not in a pod); give --kubeconfig");
  });
});
