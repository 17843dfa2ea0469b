import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveKube, type KubeApiServer, startKubeApiServer } from "./kube.js";

describe.skipIf(!haveKube())("the real kube-apiserver the Kubernetes tests run", () => {
  let kube: KubeApiServer;
  beforeAll(async () => {
    kube = await startKubeApiServer();
  }, 120_000);
  afterAll(() => kube?.stop());

  it("serves kubectl with the admin token and keeps its data across a restart", async () => {
    const configMap =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: probe, namespace: default }\ndata: { a: b }\n";
    await kube.kubectlOk(["apply", "-f", "-"], configMap);
    await kube.restart();
    const got = JSON.parse(await kube.kubectlOk(["get", "configmap", "probe", "-n", "default", "-o", "json"])) as {
      data: Record<string, string>;
    };
    expect(got.data).toEqual({ a: "b" });
  }, 120_000);

  it("verifies with its CA and lets only the token's holder list namespaces", async () => {
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${kube.url}/api/v1/namespaces`, { ca: kube.caPem, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    expect(await status({ authorization: `Bearer ${kube.token}` })).toBe(200);
    expect(await status({})).toBe(403);
  });
});
