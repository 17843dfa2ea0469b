// Workload certificates for Kubernetes service-account tokens, end to end in real processes: a real
// kube-apiserver issues the tokens (TokenRequest API) and reviews them (TokenReview API); a `gantry
// server` holds the root CA; a `gantry agent --attestor kubernetes-token-review` proves each token
// in its tokens folder and writes certificate files for the proven ones only.
import { X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { decodeJwt, decodeProtectedHeader, exportPKCS8, generateKeyPair, importPKCS8, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient, loadKubeConfig } from "../../src/kubernetes/index.js";
import { runGantry } from "../support/cli.js";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";
import { freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { waitFor } from "../support/wait.js";

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;

async function metric(port: number, name: string, label: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

describe.skipIf(!haveKube())("the agent's kubernetes-token-review attestor (real apiserver, server, agent)", () => {
  let kube: KubeApiServer;
  let api: KubeClient;
  let root: string;
  let server: ManagedProcess | undefined;
  let agent: ManagedProcess | undefined;
  let agentMetrics = 0;
  const tokensDir = () => join(root, "tokens");
  const certsDir = () => join(root, "certs");

  /** A projected-style token for shop/<serviceAccount>, from the apiserver's TokenRequest API. */
  const requestToken = async (serviceAccount: string, audiences: string[]) =>
    (
      await api.request<{ status: { token: string } }>(
        "POST",
        `/api/v1/namespaces/shop/serviceaccounts/${serviceAccount}/token`,
        {
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenRequest",
            spec: { audiences, expirationSeconds: 600 },
          },
        },
      )
    ).status.token;

  beforeAll(async () => {
    kube = await startKubeApiServer();
    api = new KubeClient(await loadKubeConfig({ kubeconfig: kube.kubeconfig }));
    await kube.kubectlOk(["create", "namespace", "shop"]);
    for (const sa of ["cart", "intruder", "late", "other"]) {
      await kube.kubectlOk(["create", "serviceaccount", sa, "-n", "shop"]);
    }
    root = await mkdtemp(join(tmpdir(), "gantry-token-review-"));
    await mkdir(tokensDir());
    const [relayPort, metricsPort, apiPort, xdsPort, agentXds, agentMetricsPort] = await freePorts(6);
    agentMetrics = agentMetricsPort as number;
    server = await startProcess({
      name: "gantry server",
      command: process.execPath,
      args: [
        ...[bin, "server", "--host", "127.0.0.1", "--insecure-api", "--xds-port", String(xdsPort)],
        ...["--api-port", String(apiPort), "--metrics-port", String(metricsPort), "--relay-port", String(relayPort)],
        ...["--log-level", "warn"],
      ],
      ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
      readyTimeoutMs: 60_000,
    });
    const added = await runGantry(["cluster", "add", "east", "--server", `http://127.0.0.1:${apiPort}`], {
      timeoutMs: 60_000,
    });
    if (added.code !== 0) throw new Error(`gantry cluster add east: ${added.stderr}`);
    await writeFile(join(root, "registration"), added.stdout.trim(), { mode: 0o600 });
    agent = await startProcess({
      name: "gantry agent east",
      command: process.execPath,
      args: [
        ...[bin, "agent", "--cluster", "east", "--host", "127.0.0.1", "--relay", `127.0.0.1:${relayPort}`],
        ...["--data-dir", join(root, "data"), "--token-file", join(root, "registration")],
        ...["--xds-port", String(agentXds), "--metrics-port", String(agentMetrics), "--log-level", "info"],
        ...["--kubeconfig", kube.kubeconfig, "--attestor", "kubernetes-token-review", "--token-audience", "gantry"],
        ...["--workload-tokens-dir", tokensDir(), "--workload-certs-dir", certsDir()],
      ],
      ready: async () => (await fetch(`http://127.0.0.1:${agentMetrics}/readyz`)).ok,
      readyTimeoutMs: 60_000,
    });
  }, 240_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await kube?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("a valid service-account token gets spiffe://<td>/ns/<ns>/sa/<sa>; forged, expired and wrong-audience ones get nothing, each refusal counted", async () => {
    await writeFile(join(tokensDir(), "cart.token"), await requestToken("cart", ["gantry"]));
    const chainFile = join(certsDir(), "shop", "cart", "cert-chain.pem");
    const chain = await waitFor(() => readFile(chainFile, "utf8").catch(() => ""), {
      timeoutMs: 60_000,
      what: `the certificate files of shop/cart\n${agent?.output()}`,
    });
    const leaf = new X509Certificate(chain.slice(0, chain.indexOf("-----END CERTIFICATE-----") + 25));
    expect(leaf.subjectAltName).toBe("URI:spiffe://gantry.local/ns/shop/sa/cart");

    // Forged: a real token's claims signed with another key.
    const real = await requestToken("intruder", ["gantry"]);
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const forged = await new SignJWT(decodeJwt(real))
      .setProtectedHeader({ alg: "RS256" })
      .sign(await importPKCS8(await exportPKCS8(privateKey), "RS256"));
    // Expired: signed with the apiserver's own service-account key, an hour past its end.
    const late = await requestToken("late", ["gantry"]);
    const claims = decodeJwt(late);
    const hourAgo = Math.floor(Date.now() / 1000) - 3600;
    const saKey = await importPKCS8(await readFile(join(dirname(kube.kubeconfig), "sa.key"), "utf8"), "RS256");
    const expired = await new SignJWT({ ...claims, iat: hourAgo - 600, nbf: hourAgo - 600, exp: hourAgo })
      .setProtectedHeader({
        alg: "RS256",
        ...(decodeProtectedHeader(late).kid ? { kid: decodeProtectedHeader(late).kid } : {}),
      })
      .sign(saKey);
    const wrongAudience = await requestToken("other", ["vault"]);
    await writeFile(join(tokensDir(), "intruder.token"), forged);
    await writeFile(join(tokensDir(), "late.token"), expired);
    await writeFile(join(tokensDir(), "other.token"), wrongAudience);

    const failures = "gantry_workload_attestation_failures_total";
    await waitFor(
      async () =>
        (await metric(agentMetrics, failures, 'reason="invalid"')) >= 2 &&
        (await metric(agentMetrics, failures, 'reason="expired"')) >= 1,
      { timeoutMs: 30_000, what: `the three refusals to be counted\n${agent?.output()}` },
    );
    expect(await metric(agentMetrics, failures, 'reason="unavailable"')).toBe(0);
    for (const sa of ["intruder", "late", "other"]) {
      await expect(readFile(join(certsDir(), "shop", sa, "cert-chain.pem"), "utf8")).rejects.toThrow(/ENOENT/);
    }
    // Each refusal is logged with why, and never with the token.
    const output = agent?.output() ?? "";
    expect(output).toMatch(/service-account token refused by the Kubernetes API/);
    expect(output).toMatch(/expired/);
    for (const token of [forged, expired, wrongAudience]) expect(output).not.toContain(token.split(".")[2]);
  });
});

describe("gantry agent --attestor kubernetes-token-review", () => {
  it("refuses to start without the workload cluster's API, before it registers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gantry-token-review-flags-"));
    try {
      const result = await runGantry(
        [
          ...["agent", "--cluster", "east", "--relay", "127.0.0.1:1", "--data-dir", join(dir, "data")],
          ...["--token-file", join(dir, "missing-token"), "--attestor", "gantry-token,kubernetes-token-review"],
        ],
        { timeoutMs: 30_000 },
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        "--attestor kubernetes-token-review: needs the workload cluster's API (--kubeconfig or --kube-in-cluster)",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
