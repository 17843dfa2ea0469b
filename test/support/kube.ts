// A real Kubernetes API server for tests: Debian's etcd and the kube-apiserver that
// scripts/test-prereqs.mjs builds from ../shared/peers/kube-apiserver, on free loopback ports in a
// temporary folder, with an admin token and a kubeconfig file. No controllers run: what a test needs
// (CRDs, namespaces, Services, EndpointSlices, webhooks) it creates itself.
import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";
import { findTool, needTool } from "./tools.js";

const buildHint = "run: node scripts/test-prereqs.mjs (it builds kube-apiserver and installs etcd-server and kubectl)";

/** Whether etcd, kube-apiserver and kubectl are here; locally a suite skips without them, under CI=true it fails. */
export function haveKube(): boolean {
  const tools = ["kube-apiserver", "etcd", "kubectl"].map((name) => needTool(name, buildHint));
  return tools.every((path) => path !== undefined);
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubeApiServer {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** A bearer token of a member of system:masters. */
  readonly token: string;
  /** A kubeconfig file naming this server, its CA and the admin token. */
  readonly kubeconfig: string;
  /** The PEM bundle that verifies the server's certificate. */
  readonly caPem: string;
  /** Runs kubectl against this server; `input` is its stdin (for `apply -f -`). Never throws on a failed command. */
  kubectl(args: readonly string[], input?: string): Promise<KubectlResult>;
  /** Like kubectl, but throws with kubectl's output when it fails. */
  kubectlOk(args: readonly string[], input?: string): Promise<string>;
  /** Stops the API server and starts it again on the same port and data (etcd keeps running): watches break. */
  restart(): Promise<void>;
  /** Stops both processes and removes their files. */
  stop(): Promise<void>;
}

export interface KubeApiServerOptions {
  /** More kube-apiserver flags, e.g. `--etcd-compaction-interval=10s`. */
  apiServerArgs?: readonly string[];
  /** How long each process may take to become ready. Default 60 s (the machine may be loaded). */
  readyTimeoutMs?: number;
}

/** GET `path` with the token; resolves to the HTTP status, or 0 when nothing answers. */
function probe(port: number, path: string, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        headers: { authorization: `Bearer ${token}` },
        // Only a readiness probe: the kubeconfig the tests use verifies the certificate.
        rejectUnauthorized: false,
        timeout: 2_000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

async function etcdHealthy(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
    return res.ok && ((await res.json()) as { health?: string }).health === "true";
  } catch {
    return false;
  }
}

function kubeconfigYaml(url: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: test\n  cluster:\n    server: ${url}\n    certificate-authority-data: ${ca}`,
    "users:",
    `- name: admin\n  user:\n    token: ${token}`,
    "contexts:",
    "- name: test\n  context:\n    cluster: test\n    user: admin",
    "current-context: test",
    "",
  ].join("\n");
}

/**
 * Starts etcd, then kube-apiserver on free loopback ports, and resolves once `/readyz` answers 200
 * (bounded by `readyTimeoutMs`). Call only when haveKube() is true.
 */
export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const dir = mkdtempSync(join(tmpdir(), "gantry-kube-"));
  const [etcdPort, peerPort, port] = await freePorts(3);
  const token = randomBytes(24).toString("hex");
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(join(dir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
  writeFileSync(join(dir, "tokens.csv"), `${token},admin,admin,system:masters\n`);
  mkdirSync(join(dir, "certs"));
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  let etcd: ManagedProcess | undefined;
  let apiServer: ManagedProcess | undefined;
  const stopAll = async () => {
    await apiServer?.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const startApiServer = async () => {
    apiServer = await startProcess({
      name: `kube-apiserver :${port}`,
      command: findTool("kube-apiserver") ?? "kube-apiserver",
      args: [
        `--etcd-servers=${etcdUrl}`,
        `--secure-port=${port}`,
        "--bind-address=127.0.0.1",
        `--cert-dir=${join(dir, "certs")}`,
        "--service-account-issuer=https://kubernetes.default.svc",
        `--service-account-key-file=${join(dir, "sa.pub")}`,
        `--service-account-signing-key-file=${join(dir, "sa.key")}`,
        `--token-auth-file=${join(dir, "tokens.csv")}`,
        "--authorization-mode=RBAC",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--profiling=false",
        ...(options.apiServerArgs ?? []),
      ],
      ready: async () => (await probe(port, "/readyz", token)) === 200,
      readyTimeoutMs,
    });
  };
  try {
    etcd = await startProcess({
      name: `etcd :${etcdPort}`,
      command: findTool("etcd") ?? "etcd",
      args: [
        "--name=default",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
      ],
      ready: () => etcdHealthy(etcdPort),
      readyTimeoutMs,
    });
    await startApiServer();
  } catch (err) {
    await stopAll();
    throw err;
  }
  const url = `https://127.0.0.1:${port}`;
  // The API server made its own serving certificate and the CA that signed it in --cert-dir.
  const caPem = readFileSync(join(dir, "certs", "apiserver.crt"), "utf8");
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, kubeconfigYaml(url, caPem, token), { mode: 0o600 });
  const kubectl = (args: readonly string[], input?: string) =>
    new Promise<KubectlResult>((resolve) => {
      const child = execFile(
        findTool("kubectl") ?? "kubectl",
        [`--kubeconfig=${kubeconfig}`, ...args],
        { timeout: 30_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin?.end(input ?? "");
    });
  return {
    url,
    port,
    token,
    kubeconfig,
    caPem,
    kubectl,
    async kubectlOk(args, input) {
      const result = await kubectl(args, input);
      if (result.code !== 0) {
        throw new Error(`kubectl ${args.join(" ")} failed (${result.code}):\n${result.stderr}${result.stdout}`);
      }
      return result.stdout;
    },
    async restart() {
      await apiServer?.stop();
      await startApiServer();
    },
    stop: stopAll,
  };
}
