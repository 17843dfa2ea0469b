// A real kube-apiserver for the agent's and the coordination tests: test/support/kube.ts starts it
// (etcd behind it, an admin token, a kubeconfig file); this gives Gantry's own client of it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeClient, loadKubeConfig } from "../../src/kubernetes/index.js";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";

export interface TestApiserver {
  readonly server: KubeApiServer;
  /** Gantry's client, as `--kubeconfig` gives it (the admin token). */
  readonly api: KubeClient;
  /** A scratch folder, removed on stop. */
  readonly dir: string;
  stop(): Promise<void>;
}

export const haveApiserver = haveKube;

export async function startApiserver(): Promise<TestApiserver> {
  const server = await startKubeApiServer();
  const dir = mkdtempSync(join(tmpdir(), "gantry-kube-test-"));
  const api = new KubeClient(await loadKubeConfig({ kubeconfig: server.kubeconfig }));
  return {
    server,
    api,
    dir,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
