// The admission webhook of `gantry server --admission-port` behind a real kube-apiserver: the server
// puts its CA in the ValidatingWebhookConfiguration, and `kubectl apply` of a bad resource is refused
// with the message `gantry apply --dry-run` prints for the same document.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGantry } from "../support/cli.js";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";
import { freePort } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { waitFor } from "../support/wait.js";
import { installCrds } from "./support.js";

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;

const webhookConfig = (port: number) =>
  JSON.stringify({
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: "gantry" },
    webhooks: [
      {
        name: "validate.gantry.dev",
        clientConfig: { url: `https://127.0.0.1:${port}/validate` },
        rules: [{ apiGroups: ["gantry.dev"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["*"] }],
        failurePolicy: "Fail",
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: 5,
      },
    ],
  });

const bad = `kind: RouteTable
metadata: { name: web, namespace: default }
spec:
  hosts: [web.test]
  http: [{ matchers: [{ exact: /a, prefix: / }] }]
`;

describe.skipIf(!haveKube())("the admission webhook (a real kube-apiserver)", () => {
  let kube: KubeApiServer;
  let server: ManagedProcess;
  const dir = mkdtempSync(join(tmpdir(), "gantry-admission-"));

  beforeAll(async () => {
    kube = await startKubeApiServer();
    await installCrds(kube);
    const port = await freePort();
    await kube.kubectlOk(["apply", "-f", "-"], webhookConfig(port));
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    server = await startProcess({
      name: "gantry server",
      command: process.execPath,
      args: [
        bin,
        "server",
        "--host=127.0.0.1",
        "--insecure-api",
        `--xds-port=${ports[0]}`,
        `--api-port=${ports[1]}`,
        `--metrics-port=${ports[2]}`,
        `--kubeconfig=${kube.kubeconfig}`,
        `--admission-port=${port}`,
        "--admission-webhook-config=gantry",
      ],
      ready: async () => (await fetch(`http://127.0.0.1:${ports[2]}/readyz`)).ok,
      readyTimeoutMs: 30_000,
    });
    // The server put its CA into the configuration.
    await waitFor(
      async () =>
        JSON.parse(await kube.kubectlOk(["get", "validatingwebhookconfiguration", "gantry", "-o", "json"])).webhooks[0]
          .clientConfig.caBundle,
      { what: "the caBundle" },
    );
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    await kube?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a bad resource with the message of `gantry apply --dry-run`, field path included", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, `apiVersion: gantry/v1\n${bad}`);
    const dryRun = await runGantry(["apply", "--dry-run", "-f", file, "--server", "http://127.0.0.1:1"]);
    expect(dryRun.code).toBe(1);
    const problem = /bad\.yaml:\d+: (.*)$/m.exec(dryRun.stderr)?.[1];
    expect(problem).toBe(
      "RouteTable default/web: spec.http[0].matchers[0].prefix: only one of exact and prefix may be set",
    );

    const refused = await kube.kubectl(["apply", "-f", "-"], `apiVersion: gantry.dev/v1\n${bad}`);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('admission webhook "validate.gantry.dev" denied the request');
    expect(refused.stderr).toContain(problem);
  });

  it("admits a valid resource", async () => {
    const good = `apiVersion: gantry.dev/v1
kind: RouteTable
metadata: { name: web, namespace: default }
spec: { hosts: [web.test], http: [{ matchers: [{ prefix: / }], directResponse: { status: 200 } }] }
`;
    await kube.kubectlOk(["apply", "-f", "-"], good);
  });
});
