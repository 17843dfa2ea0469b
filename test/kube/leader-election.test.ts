// Two real `gantry server --kubeconfig` processes against a real kube-apiserver: both watch and
// serve, exactly one holds the coordination.k8s.io Lease and writes statuses; when it is killed
// (SIGKILL: no release), the other takes the Lease within its duration and writes the statuses.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";
import { freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { waitFor } from "../support/wait.js";
import { installCrds } from "./support.js";

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const leaseSeconds = 4;
/** The renewal period the server derives from the lease duration (2/15 of it). */
const retryMs = Math.floor((leaseSeconds * 1000 * 2) / 15);

const destination = (port: number) => `apiVersion: gantry.dev/v1
kind: Destination
metadata: { name: echo, namespace: shop }
spec: { ports: [{ number: 8080, protocol: HTTP1 }], endpoints: [{ address: 127.0.0.1, port: ${port} }] }
`;

interface Replica {
  name: string;
  metricsPort: number;
  process: ManagedProcess;
}

async function metric(port: number, name: string, label = ""): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

const readyz = async (replica: Replica) => (await fetch(`http://127.0.0.1:${replica.metricsPort}/readyz`)).text();
const leading = async (replica: Replica) => (await metric(replica.metricsPort, "gantry_kube_leader")) === 1;
const statusWrites = (replica: Replica) =>
  metric(replica.metricsPort, "gantry_kube_status_writes_total", 'result="written"');

describe.skipIf(!haveKube())("two gantry server replicas elect one status writer with a Lease", () => {
  let kube: KubeApiServer;
  const replicas: Replica[] = [];

  const start = async (name: string): Promise<Replica> => {
    const [xds, api, metrics] = (await freePorts(3)) as [number, number, number];
    const replica: Replica = {
      name,
      metricsPort: metrics,
      process: await startProcess({
        name: `gantry server ${name}`,
        command: process.execPath,
        args: [
          ...[bin, "server", "--host", "127.0.0.1", "--insecure-api", "--server-name", name],
          ...["--xds-port", String(xds), "--api-port", String(api), "--metrics-port", String(metrics)],
          ...["--kubeconfig", kube.kubeconfig, "--lease-duration-seconds", String(leaseSeconds)],
          ...["--log-level", "info"],
        ],
        ready: async () => (await fetch(`http://127.0.0.1:${metrics}/readyz`)).ok,
        readyTimeoutMs: 60_000,
      }),
    };
    replicas.push(replica);
    return replica;
  };
  const holder = async () =>
    (
      await kube.kubectlOk([
        ...["get", "lease", "gantry-server", "-n", "default"],
        "-o",
        "jsonpath={.spec.holderIdentity}",
      ])
    ).trim();
  const observedGeneration = async () => {
    const got = JSON.parse(
      await kube.kubectlOk(["get", "destinations.gantry.dev", "echo", "-n", "shop", "-o", "json"]),
    );
    return (got.status?.conditions?.[0]?.observedGeneration as number | undefined) ?? 0;
  };

  beforeAll(async () => {
    kube = await startKubeApiServer();
    await installCrds(kube);
    await kube.kubectlOk(["create", "namespace", "shop"]);
  }, 180_000);

  afterAll(async () => {
    for (const replica of replicas) await replica.process.stop();
    await kube?.stop();
  });

  it("one holder writes statuses; killed, the other takes over within the lease duration and writes them", async () => {
    const a = await start("a");
    await waitFor(() => leading(a), { timeoutMs: 30_000, intervalMs: 100, what: `a to lead\n${a.process.output()}` });
    const b = await start("b");
    // b serves (ready) while it follows a.
    await waitFor(async () => /leader election: following a_/.test(await readyz(b)), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "b to follow a",
    });
    expect(await readyz(a)).toMatch(/leader election: leading \(lease default\/gantry-server\)/);
    expect(await holder()).toMatch(/^a_[0-9a-f]{8}$/);

    await kube.kubectlOk(["apply", "-f", "-"], destination(8080));
    await waitFor(async () => (await observedGeneration()) === 1, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "the status written by a",
    });
    expect(await statusWrites(a)).toBeGreaterThan(0);
    // Both stored and translated it; only the holder wrote.
    expect(await statusWrites(b)).toBe(0);
    expect(await leading(b)).toBe(false);

    const killedAt = Date.now();
    a.process.child.kill("SIGKILL");
    await waitFor(() => leading(b), {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: `b to take over\n${b.process.output()}`,
    });
    // The Lease is left alone for its duration after the last renewal b saw (a renewal period at
    // most before the kill), then taken at b's next read: leeway for a loaded machine on top.
    expect(Date.now() - killedAt).toBeLessThan(leaseSeconds * 1000 + 2 * retryMs + 3_000);
    expect(await holder()).toMatch(/^b_[0-9a-f]{8}$/);
    expect(await readyz(b)).toMatch(/leader election: leading/);

    await kube.kubectlOk(["apply", "-f", "-"], destination(8081));
    await waitFor(async () => (await observedGeneration()) === 2, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "the status of the new generation, written by b",
    });
    expect(await statusWrites(b)).toBeGreaterThan(0);
  }, 180_000);
});
