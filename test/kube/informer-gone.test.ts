// The informer against a real kube-apiserver whose etcd is compacted: a watch from a version that
// is gone gets 410, and the informer lists again, seeing what changed meanwhile (deletions too).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpKubeClient, Informer, type KubeClient, KubeError, loadKubeConfig } from "../../src/kube/index.js";
import { systemClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";
import { waitFor } from "../support/wait.js";
import { installCrds } from "./support.js";

const logger = createLogger({ service: "test", level: "silent" });
const path = "/apis/gantry.dev/v1/namespaces/shop/secrets";
const secret = (name: string) =>
  JSON.stringify({ apiVersion: "gantry.dev/v1", kind: "Secret", metadata: { name, namespace: "shop" }, spec: {} });

describe.skipIf(!haveKube())("Informer after a compaction (a real kube-apiserver)", () => {
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
    const client = new HttpKubeClient(await loadKubeConfig({ kubeconfig: kube.kubeconfig }));
    let listedAt = "";
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first watch waits until its version has been compacted away.
    const gated: KubeClient = {
      list: async (p) => {
        const list = await client.list(p);
        listedAt ||= list.resourceVersion;
        return list;
      },
      watch: async (...args) => {
        await held;
        return client.watch(...args);
      },
      get: (p) => client.get(p),
      mergePatch: (p, body) => client.mergePatch(p, body),
    };
    const informer = new Informer({ client: gated, path, onChanges: () => undefined, timers: systemClock, logger });
    await informer.start();
    expect(informer.get("shop/a")).toBeDefined();
    await kube.kubectlOk(["delete", "secrets.gantry.dev", "a", "-n", "shop"]);
    await kube.kubectlOk(["create", "-f", "-"], secret("b"));
    // A watch from version R asks etcd for the events from R+1 on, while a read at R needs R itself:
    // a compaction to exactly R+1 refuses the read but not the watch, which then replays the missed
    // events without any 410 (the flake this test had). So wait until R+1 is gone too: then the
    // resumed watch must be refused. (An etcd-backed API server's versions are etcd revisions.)
    const mustBeGone = String(Number(listedAt) + 1);
    await waitFor(
      async () =>
        client.list(`${path}?resourceVersion=${mustBeGone}&resourceVersionMatch=Exact`).then(
          () => false,
          (err: unknown) => err instanceof KubeError && err.code === 410,
        ),
      { timeoutMs: 30_000, what: `resource version ${mustBeGone} to be compacted` },
    );
    release();
    await waitFor(() => informer.get("shop/b") !== undefined && informer.get("shop/a") === undefined, {
      timeoutMs: 15_000,
      what: "the relist",
    });
    await informer.stop();
    expect(informer.stats.gone).toBe(1);
    expect(informer.stats.lists).toBe(2);
  }, 90_000);
});
