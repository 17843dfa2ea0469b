// The reflector that watches the server's custom resources, against a real kube-apiserver whose
// etcd is compacted: a watch from a version that is gone gets 410, and the reflector lists again,
// seeing what changed meanwhile (deletions too).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type KubeApi,
  KubeApiError,
  KubeClient,
  type KubeObject,
  loadKubeConfig,
  Reflector,
} from "../../src/kubernetes/index.js";
import { systemClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";
import { waitFor } from "../support/wait.js";
import { installCrds } from "./support.js";

const logger = createLogger({ service: "test", level: "silent" });
const path = "/apis/gantry.dev/v1/namespaces/shop/secrets";
const secret = (name: string) =>
  JSON.stringify({ apiVersion: "gantry.dev/v1", kind: "Secret", metadata: { name, namespace: "shop" }, spec: {} });

describe.skipIf(!haveKube())("Reflector after a compaction (a real kube-apiserver)", () => {
  let kube: KubeApiServer;
  beforeAll(async () => {
    // Watches are served from etcd (no watch cache), which the API server compacts every second.
    kube = await startKubeApiServer({ apiServerArgs: ["--watch-cache=false", "--etcd-compaction-interval=1s"] });
    await installCrds(kube);
    await kube.kubectlOk(["create", "namespace", "shop"]);
  }, 180_000);
  afterAll(() => kube?.stop());

  it("lists again on 410 Gone and sees the deletion and the creation it missed", async () => {
    await kube.kubectlOk(["create", "-f", "-"], secret("a"));
    const api = new KubeClient(await loadKubeConfig({ kubeconfig: kube.kubeconfig }));
    let listedAt = "";
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first watch waits until its version has been compacted away.
    const gated: KubeApi = {
      server: api.server,
      request: (method, p, args) => api.request(method, p, args),
      list: async <T>(p: string, args?: { pageSize?: number; signal?: AbortSignal }) => {
        const list = await api.list<T>(p, args);
        listedAt ||= list.metadata.resourceVersion ?? "";
        return list;
      },
      watch: async (...args) => {
        await held;
        return api.watch(...args);
      },
    };
    const reflector = new Reflector<KubeObject>({
      api: gated,
      path,
      what: "secrets.gantry.dev",
      project: (object) => object,
      onChange: () => undefined,
      timers: systemClock,
      logger,
    });
    await reflector.start();
    expect(reflector.items.get("shop/a")).toBeDefined();
    await kube.kubectlOk(["delete", "secrets.gantry.dev", "a", "-n", "shop"]);
    await kube.kubectlOk(["create", "-f", "-"], secret("b"));
    // A watch from version R asks etcd for the events from R+1 on, while a read at R needs R itself:
    // a compaction to exactly R+1 refuses the read but not the watch, which then replays the missed
    // events without any 410 (the flake this test had). So wait until R+1 is gone too: then the
    // resumed watch must be refused. (An etcd-backed API server's versions are etcd revisions.)
    const mustBeGone = String(Number(listedAt) + 1);
    await waitFor(
      () =>
        api.request("GET", path, { query: { resourceVersion: mustBeGone, resourceVersionMatch: "Exact" } }).then(
          () => false,
          (err: unknown) => err instanceof KubeApiError && err.status === 410,
        ),
      { timeoutMs: 30_000, what: `resource version ${mustBeGone} to be compacted` },
    );
    release();
    await waitFor(() => reflector.items.get("shop/b") !== undefined && reflector.items.get("shop/a") === undefined, {
      timeoutMs: 15_000,
      what: "the relist",
    });
    await reflector.stop();
    expect(reflector.stats.gone).toBe(1);
    expect(reflector.stats.lists).toBe(2);
  }, 90_000);
});
