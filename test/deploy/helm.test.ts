// The Helm chart (deploy/helm/gantry), rendered by the real `helm template` with the default values
// and with non-default ones: what each component gets (probes, metrics annotations, RBAC with exactly
// the verbs its code calls, PodDisruptionBudgets), clear refusals of bad values, and every object
// accepted by a real kube-apiserver with a server-side dry run (schema, defaults, admission).
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { KubernetesDiscovery } from "../../src/agent/index.js";
import { type KubeApi, KubeClient, LeaderElector, loadKubeConfig } from "../../src/kubernetes/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";
import { needTool } from "../support/tools.js";
import { waitFor } from "../support/wait.js";

const run = promisify(execFile);
const logger = createLogger({ service: "test", level: "silent" });
const chart = new URL("../../deploy/helm/gantry", import.meta.url).pathname;
/** The CRDs (the k8s half of issue 21 generates them from the protos). */
const crds = new URL("../../deploy/crds", import.meta.url).pathname;
const helm = needTool("helm", "run: node scripts/test-prereqs.mjs (builds helm from the Go module proxy)");

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are read field by field.
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  rules?: any[];
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  webhooks?: any;
}

/** `helm template` with a values file and `--set` values (or other flags, given with their `--`); the objects, or the error helm printed. */
async function template(
  values: Record<string, unknown> | undefined,
  ...set: string[]
): Promise<{ text: string; objects: K8sObject[] }> {
  const dir = await mkdtemp(join(tmpdir(), "gantry-helm-"));
  try {
    const args = ["template", "gantry", chart, "--namespace", "gantry"];
    if (values) {
      await writeFile(join(dir, "values.json"), JSON.stringify(values));
      args.push("--values", join(dir, "values.json"));
    }
    for (const s of set) args.push(...(s.startsWith("--") ? [s] : ["--set", s]));
    const { stdout } = await run(helm as string, args, { maxBuffer: 16 * 1024 * 1024 });
    const objects = parseAllDocuments(stdout)
      .map((d) => d.toJSON() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
    return { text: stdout, objects };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const nonDefault = {
  logLevel: "debug",
  metrics: { annotations: false },
  commonLabels: { team: "platform" },
  managementRedisUrl: "redis+sentinel://sentinel-0:26379,sentinel-1:26379/gantry",
  redis: { enabled: false },
  server: {
    replicas: 3,
    ports: { relay: 0 },
    apiToken: { existingSecret: "my-token" },
    kubernetes: { namespace: "shop" },
    admission: { failurePolicy: "Ignore" },
    extraArgs: ["--trust-domain=example.org"],
  },
  agent: {
    enabled: true,
    cluster: "east",
    relay: "gantry.example.com:18100",
    registration: { existingSecret: "gantry-east-token" },
    persistence: { enabled: false },
  },
  extauth: { redisUrl: "rediss://auth-redis:6380", pdb: { enabled: false } },
  ratelimit: { enabled: false },
};

const find = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);

describe.skipIf(helm === undefined)("the Helm chart", () => {
  let defaults: K8sObject[];
  let custom: K8sObject[];

  beforeAll(async () => {
    defaults = (await template(undefined)).objects;
    custom = (await template(nonDefault)).objects;
  }, 60_000);

  it("renders the server, extauth, ratelimit and a Redis per role by default, each with probes and metrics annotations", () => {
    const deployments = defaults.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name);
    expect(deployments.sort()).toEqual(["gantry-extauth", "gantry-ratelimit", "gantry-server"]);
    const statefulSets = defaults.filter((o) => o.kind === "StatefulSet").map((o) => o.metadata.name);
    expect(statefulSets.sort()).toEqual(["gantry-redis-extauth", "gantry-redis-management", "gantry-redis-ratelimit"]);
    for (const [name, port] of [
      ["gantry-server", 9091],
      ["gantry-extauth", 9092],
      ["gantry-ratelimit", 9093],
    ] as const) {
      const pod = find(defaults, "Deployment", name)?.spec.template;
      expect(pod.metadata.annotations).toEqual({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": String(port),
        "prometheus.io/path": "/metrics",
      });
      const [container] = pod.spec.containers;
      expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
      expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
      expect(container.ports).toContainEqual({ name: "metrics", containerPort: port });
      expect(container.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      });
      expect(find(defaults, "PodDisruptionBudget", name)?.spec).toMatchObject({ minAvailable: 1 });
    }
    const server = find(defaults, "Deployment", "gantry-server")?.spec.template.spec.containers[0];
    expect(server.args).toEqual(
      expect.arrayContaining([
        "--redis-url=redis://gantry-redis-management:6379",
        "--extauth-address=gantry-extauth:8083",
        "--ratelimit-address=gantry-ratelimit:8081",
        "--relay-port=18100",
        "--lease-name=gantry-server",
        "--lease-namespace=gantry",
      ]),
    );
    expect(find(defaults, "Deployment", "gantry-ratelimit")?.spec.template.spec.containers[0].args).toContain(
      "--redis-url=redis://gantry-redis-ratelimit:6379",
    );
  });

  it("gives each component exactly the rights its API calls need, and none to those that make none", () => {
    const plurals = readdirSync(crds)
      .map((file) => file.replace(/\.gantry\.dev\.yaml$/, ""))
      .sort();
    expect(find(defaults, "ClusterRole", "gantry-server-resources")?.rules).toEqual([
      { apiGroups: ["gantry.dev"], resources: plurals, verbs: ["list", "watch"] },
      { apiGroups: ["gantry.dev"], resources: plurals.map((p) => `${p}/status`), verbs: ["patch"] },
    ]);
    expect(find(defaults, "ClusterRole", "gantry-server-admission")?.rules).toEqual([
      {
        apiGroups: ["admissionregistration.k8s.io"],
        resources: ["validatingwebhookconfigurations"],
        resourceNames: ["gantry-server"],
        verbs: ["get", "patch"],
      },
    ]);
    const webhook = find(defaults, "ValidatingWebhookConfiguration", "gantry-server")?.webhooks[0];
    expect(webhook.clientConfig).toEqual({
      service: { name: "gantry-server", namespace: "gantry", path: "/validate", port: 443 },
    });
    expect(webhook.rules[0].resources).toEqual(plurals);
    const role = find(defaults, "Role", "gantry-server-leader-election");
    expect(role?.rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["gantry-server"],
        verbs: ["get", "update"],
      },
    ]);
    expect(find(custom, "ClusterRole", "gantry-agent")?.rules).toEqual([
      { apiGroups: [""], resources: ["services", "pods"], verbs: ["list", "watch"] },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
      { apiGroups: ["gantry.dev"], resources: ["destinations"], verbs: ["list", "watch"] },
      { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
    ]);
    expect(find(custom, "Deployment", "gantry-agent")?.spec.template.spec.containers[0].args).toEqual(
      expect.arrayContaining(["--attestor=gantry-token,kubernetes-token-review", "--token-audience=gantry"]),
    );
    for (const name of ["gantry-extauth", "gantry-ratelimit"]) {
      expect(find(defaults, "ServiceAccount", name)).toMatchObject({ automountServiceAccountToken: false });
      expect(find(defaults, "Deployment", name)?.spec.template.spec.automountServiceAccountToken).toBe(false);
    }
  });

  it("follows non-default values: bring-your-own Redis, an agent, no relay, no annotations, no PDB where turned off", () => {
    expect(custom.filter((o) => o.kind === "StatefulSet")).toEqual([]);
    expect(find(custom, "Deployment", "gantry-ratelimit")).toBeUndefined();
    const server = find(custom, "Deployment", "gantry-server");
    expect(server?.spec.replicas).toBe(3);
    const args: string[] = server?.spec.template.spec.containers[0].args;
    expect(args).toContain("--redis-url=redis+sentinel://sentinel-0:26379,sentinel-1:26379/gantry");
    expect(args).toContain("--trust-domain=example.org");
    expect(args).toContain("--log-level=debug");
    expect(args.some((a) => a.startsWith("--relay-port") || a.startsWith("--ratelimit-address"))).toBe(false);
    expect(server?.spec.template.metadata.annotations ?? {}).toEqual({});
    expect(find(custom, "Secret", "gantry-server-api-token")).toBeUndefined();
    expect(server?.spec.template.spec.volumes).toContainEqual({
      name: "api-token",
      secret: { secretName: "my-token", items: [{ key: "token", path: "token" }] },
    });
    expect(args).toEqual(
      expect.arrayContaining(["--kube-in-cluster", "--kube-namespace=shop", "--admission-port=9443"]),
    );
    // Watching one namespace: a Role there, not a ClusterRole; the webhook checks only that namespace.
    expect(find(custom, "Role", "gantry-server-resources")?.metadata.namespace).toBe("shop");
    expect(find(custom, "ClusterRole", "gantry-server-resources")).toBeUndefined();
    expect(find(custom, "ValidatingWebhookConfiguration", "gantry-server")?.webhooks[0]).toMatchObject({
      failurePolicy: "Ignore",
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } },
    });
    expect(find(custom, "PodDisruptionBudget", "gantry-extauth")).toBeUndefined();
    expect(find(custom, "Deployment", "gantry-extauth")?.spec.template.spec.containers[0].args).toContain(
      "--redis-url=rediss://auth-redis:6380",
    );
    const agent = find(custom, "Deployment", "gantry-agent")?.spec.template.spec;
    expect(agent.containers[0].args).toEqual(
      expect.arrayContaining([
        "agent",
        "--cluster=east",
        "--relay=gantry.example.com:18100",
        "--token-file=/var/run/gantry/registration/token",
        "--kube-in-cluster",
        "--cluster-domain=cluster.local",
      ]),
    );
    expect(agent.volumes).toContainEqual({ name: "data", emptyDir: {} });
    expect(find(custom, "PodDisruptionBudget", "gantry-agent")?.spec).toMatchObject({ maxUnavailable: 1 });
    for (const o of custom)
      expect((o.metadata as { labels?: Record<string, string> }).labels?.["team"]).toBe("platform");
  });

  it("carries Gantry's CRDs (the chart's crds/ is deploy/crds), installed before the rest", async () => {
    const { objects } = await template(undefined, "--include-crds");
    const names = objects.filter((o) => o.kind === "CustomResourceDefinition").map((o) => `${o.metadata.name}.yaml`);
    expect(names.sort()).toEqual(readdirSync(crds).sort());
  });

  it("refuses values that cannot work, saying which value", async () => {
    await expect(template(undefined, "agent.enabled=true", "agent.relay=r:1")).rejects.toThrow(
      /agent\.cluster: give this workload cluster's name/,
    );
    await expect(template(undefined, "agent.enabled=true", "agent.cluster=east")).rejects.toThrow(
      /agent\.relay: give the management server replicas' relay addresses/,
    );
    await expect(template(undefined, "redis.enabled=false")).rejects.toThrow(
      /server\.replicas > 1 needs the management Redis/,
    );
    // Token review without the in-cluster API would be silently off: refused, naming both values.
    await expect(
      template(
        undefined,
        "agent.enabled=true",
        "agent.cluster=east",
        "agent.relay=r:1",
        "agent.discovery.kubernetes=false",
      ),
    ).rejects.toThrow(/agent\.tokenReview\.enabled needs agent\.discovery\.kubernetes/);
    const withoutReview = await template(
      undefined,
      "agent.enabled=true",
      "agent.cluster=east",
      "agent.relay=r:1",
      "agent.discovery.kubernetes=false",
      "agent.tokenReview.enabled=false",
    );
    const args: string[] = find(withoutReview.objects, "Deployment", "gantry-agent")?.spec.template.spec.containers[0]
      .args;
    expect(args.some((a) => a.startsWith("--attestor") || a === "--kube-in-cluster")).toBe(false);
  });
});

/** A kubeconfig for one service account of the test apiserver, with a token from the TokenRequest API. */
async function clientAs(kube: KubeApiServer, admin: KubeApi, namespace: string, account: string, dir: string) {
  const { status } = await admin.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${account}/token`,
    { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } } },
  );
  const file = join(dir, `${account}.kubeconfig`);
  await writeFile(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{ name: test, cluster: { server: "${kube.url}", certificate-authority-data: ${Buffer.from(kube.caPem).toString("base64")} } }]`,
      `users: [{ name: ${account}, user: { token: ${status.token} } }]`,
      `contexts: [{ name: test, context: { cluster: test, user: ${account} } }]`,
      "current-context: test",
      "",
    ].join("\n"),
  );
  return new KubeClient(await loadKubeConfig({ kubeconfig: file }));
}

describe.skipIf(helm === undefined || !haveKube())("the Helm chart on a real kube-apiserver", () => {
  let kube: KubeApiServer;
  let admin: KubeClient;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gantry-helm-kube-"));
    kube = await startKubeApiServer();
    admin = new KubeClient(await loadKubeConfig({ kubeconfig: kube.kubeconfig }));
    await kube.kubectlOk(["create", "namespace", "gantry"]);
    await kube.kubectlOk(["create", "namespace", "shop"]);
    await kube.kubectlOk(["apply", "--server-side", "-f", crds]);
    await kube.kubectlOk(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
  }, 120_000);

  afterAll(async () => {
    await kube?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["default", undefined],
    ["non-default", nonDefault],
  ] as const)("every object of the %s values passes a server-side dry run", async (_name, values) => {
    const { text, objects } = await template(values);
    const result = await kube.kubectl(["apply", "--dry-run=server", "-f", "-"], text);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split("\n")).toHaveLength(objects.length);
  });

  it("the agent's ClusterRole lets its Kubernetes provider list and watch everything it reads, and nothing else", async () => {
    const rbac = (await template(nonDefault)).objects.filter(
      (o) =>
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"].includes(o.kind) && o.metadata.name === "gantry-agent",
    );
    expect(rbac).toHaveLength(3);
    await kube.kubectlOk(["apply", "-f", "-"], rbac.map((o) => JSON.stringify(o)).join("\n"));
    const agent = await clientAs(kube, admin, "gantry", "gantry-agent", dir);
    // Any refusal (403) would be logged as a failed list or watch: nothing may be.
    const warnings: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push(chunk.toString("utf8"));
        done();
      },
    });
    const discovery = new KubernetesDiscovery({
      api: agent,
      logger: createLogger({ service: "test", level: "warn", destination }),
    });
    await discovery.start();
    try {
      await waitFor(() => discovery.current(), { what: "the agent's first discovered set, with its own rights" });
      expect(warnings).toEqual([]);
    } finally {
      await discovery.stop();
    }
    const can = async (verb: string, resource: string) =>
      (
        await kube.kubectl([
          "auth",
          "can-i",
          verb,
          resource,
          "--all-namespaces",
          "--as=system:serviceaccount:gantry:gantry-agent",
        ])
      ).stdout.trim();
    expect(await can("watch", "endpointslices.discovery.k8s.io")).toBe("yes");
    expect(await can("get", "secrets")).toBe("no");
    expect(await can("update", "services")).toBe("no");
    expect(await can("create", "destinations.gantry.dev")).toBe("no");
    expect(await can("create", "tokenreviews.authentication.k8s.io")).toBe("yes");
    expect(await can("create", "subjectaccessreviews.authorization.k8s.io")).toBe("no");
  });

  it("the server's Role lets it elect a leader with its Lease, and touch no other", async () => {
    const rbac = (await template(undefined)).objects.filter(
      (o) =>
        (o.kind === "ServiceAccount" && o.metadata.name === "gantry-server") ||
        o.metadata.name === "gantry-server-leader-election",
    );
    expect(rbac.map((o) => o.kind).sort()).toEqual(["Role", "RoleBinding", "ServiceAccount"]);
    await kube.kubectlOk(["apply", "-f", "-"], rbac.map((o) => JSON.stringify(o)).join("\n"));
    const server = await clientAs(kube, admin, "gantry", "gantry-server", dir);
    const elector = new LeaderElector({
      api: server,
      namespace: "gantry",
      name: "gantry-server",
      identity: "gantry-server-0",
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 250,
      logger,
    });
    elector.start();
    try {
      await waitFor(() => elector.isLeader, { what: "the server to lead with the chart's rights" });
    } finally {
      await elector.stop();
    }
    const can = async (verb: string, what: string) =>
      (
        await kube.kubectl([
          "auth",
          "can-i",
          verb,
          what,
          "-n",
          "gantry",
          "--as=system:serviceaccount:gantry:gantry-server",
        ])
      ).stdout.trim();
    expect(await can("update", "leases/gantry-server")).toBe("yes");
    expect(await can("update", "leases/another")).toBe("no");
    expect(await can("delete", "leases/gantry-server")).toBe("no");
  });

  it("the server's other rights are exactly its reflectors', status writes' and webhook configuration's calls", async () => {
    const rbac = (await template(undefined)).objects.filter((o) =>
      ["gantry-server-resources", "gantry-server-admission"].includes(o.metadata.name),
    );
    expect(rbac.map((o) => o.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRole",
      "ClusterRoleBinding",
      "ClusterRoleBinding",
    ]);
    await kube.kubectlOk(["apply", "-f", "-"], rbac.map((o) => JSON.stringify(o)).join("\n"));
    const can = async (...args: string[]) =>
      (await kube.kubectl(["auth", "can-i", ...args, "--as=system:serviceaccount:gantry:gantry-server"])).stdout.trim();
    for (const file of readdirSync(crds)) {
      const resource = file.replace(/\.yaml$/, "");
      expect(await can("watch", resource, "--all-namespaces")).toBe("yes");
      expect(await can("patch", resource, "--subresource=status", "-n", "shop")).toBe("yes");
      expect(await can("patch", resource, "-n", "shop")).toBe("no");
      // The server never reads one object alone: its reflectors list and watch.
      expect(await can("get", resource, "-n", "shop")).toBe("no");
    }
    expect(await can("patch", "validatingwebhookconfigurations/gantry-server")).toBe("yes");
    expect(await can("patch", "validatingwebhookconfigurations/another")).toBe("no");
    expect(await can("get", "secrets", "-n", "gantry")).toBe("no");
  });
});
