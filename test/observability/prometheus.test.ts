import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient, createLogger } from "../../src/lib/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { checkClient, checkRequest } from "../extauth/helpers.js";
import { freePorts, type ManagedProcess, needTool, runGantry, startProcess, waitFor } from "../support/index.js";
import { panelQueries, pendingMetrics } from "./dashboards.js";
import {
  deployedQueries,
  documentedMetrics,
  type ExportedFamily,
  exportedFamilies,
  familyOf,
  implicitLabels,
} from "./documented-metrics.js";

/**
 * Documented metrics that the processes this suite runs do not register, because only another mode
 * does: the mode, and the file that registers the name (checked to still name it).
 */
const conditionalMetrics: ReadonlyMap<string, { mode: string; source: string }> = new Map([
  // Scraped from real replicas on a real kube-apiserver by test/kube/leader-election.test.ts.
  ["gantry_kube_leader", { mode: "gantry server --kubeconfig", source: "src/cli/commands/server-kube.ts" }],
  ["gantry_kube_status_writes_total", { mode: "gantry server --kubeconfig", source: "src/kube/source.ts" }],
]);

// A real Prometheus (Debian's) scrapes the metrics ports of gantry server, extauth and ratelimit while
// they serve a little traffic; through its HTTP API the tests check that the series exist, that the
// alert rules load, and that every Grafana panel's query parses and returns series.

const prometheusBin = needTool("prometheus", "install with: sudo apt-get install --no-install-recommends prometheus");
const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/gantry.js");
const quiet = createLogger({ service: "prometheus-test", level: "silent" });

interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

describe.skipIf(!prometheusBin)("Prometheus scraping every Gantry metrics port", () => {
  const processes: ManagedProcess[] = [];
  let dir = "";
  let promPort = 0;
  let apiUrl = "";
  let nackingProxy: XdsClient | undefined;

  const query = async (expr: string): Promise<QueryResult> => {
    const response = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await response.json()) as QueryResult;
  };
  const series = async (expr: string) => (await query(expr)).data?.result ?? [];

  /** Each Gantry process's /metrics, scraped directly (by job). */
  const metricsUrls = new Map<string, string>();

  const gantry = async (name: string, args: string[], metricsPort: number) => {
    const proc = await startProcess({
      name,
      command: process.execPath,
      args: [bin, ...args, "--host", "127.0.0.1", "--metrics-port", String(metricsPort), "--log-level", "warn"],
      ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
      readyTimeoutMs: 60_000,
    });
    processes.push(proc);
    metricsUrls.set(name.replace(" ", "-"), `http://127.0.0.1:${metricsPort}/metrics`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-prometheus-"));
    cpSync(join(root, "examples/features"), join(dir, "config"), { recursive: true });
    const [xds, api, serverMetrics, authGrpc, authMetrics, rlGrpc, rlMetrics, relay, agentXds, agentMetrics, prom] =
      await freePorts(11);
    promPort = prom;
    apiUrl = `http://127.0.0.1:${api}`;
    await gantry(
      "gantry server",
      [
        ...["server", "--config-dir", join(dir, "config"), "--insecure-api", "--xds-port", `${xds}`],
        ...["--api-port", `${api}`, "--relay-port", `${relay}`],
      ],
      serverMetrics as number,
    );
    // A workload cluster's agent, registered with a token, relaying one discovered Destination.
    const added = await runGantry(["cluster", "add", "east", "--server", `http://127.0.0.1:${api}`], {
      timeoutMs: 100_000,
    });
    if (added.code !== 0) throw new Error(`gantry cluster add: ${added.stderr}`);
    writeFileSync(join(dir, "token"), added.stdout.trim(), { mode: 0o600 });
    mkdirSync(join(dir, "discovery"));
    writeFileSync(
      join(dir, "discovery", "echo.yaml"),
      "apiVersion: gantry/v1\nkind: Destination\nmetadata: { name: echo, namespace: east }\nspec:\n  ports: [{ number: 8080 }]\n  endpoints: [{ address: 10.0.0.9 }]\n",
    );
    const agentArgs = [
      ...["agent", "--cluster", "east", "--relay", `127.0.0.1:${relay}`, "--token-file", join(dir, "token")],
      ...["--data-dir", join(dir, "agent"), "--discovery-dir", join(dir, "discovery"), "--xds-port", `${agentXds}`],
    ];
    const agentProc = await startProcess({
      name: "gantry agent",
      command: process.execPath,
      args: [bin, ...agentArgs, "--host", "127.0.0.1", "--metrics-port", `${agentMetrics}`, "--log-level", "warn"],
      ready: async () => (await fetch(`http://127.0.0.1:${agentMetrics}/readyz`)).ok,
      readyTimeoutMs: 60_000,
    });
    processes.push(agentProc);
    metricsUrls.set("gantry-agent", `http://127.0.0.1:${agentMetrics}/metrics`);
    const feed = ["--xds-server", `127.0.0.1:${xds}`];
    await gantry("gantry extauth", ["extauth", ...feed, "--grpc-port", `${authGrpc}`], authMetrics as number);
    await gantry("gantry ratelimit", ["ratelimit", ...feed, "--grpc-port", `${rlGrpc}`], rlMetrics as number);

    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        `rule_files: [${JSON.stringify(join(root, "deploy/prometheus/alerts.yml"))}]`,
        "scrape_configs:",
        `  - { job_name: gantry-server, static_configs: [{ targets: ["127.0.0.1:${serverMetrics}"] }] }`,
        `  - { job_name: gantry-extauth, static_configs: [{ targets: ["127.0.0.1:${authMetrics}"] }] }`,
        `  - { job_name: gantry-ratelimit, static_configs: [{ targets: ["127.0.0.1:${rlMetrics}"] }] }`,
        `  - { job_name: gantry-agent, static_configs: [{ targets: ["127.0.0.1:${agentMetrics}"] }] }`,
        "",
      ].join("\n"),
    );
    processes.push(
      await startProcess({
        name: "prometheus",
        command: prometheusBin as string,
        args: [
          `--config.file=${join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${join(dir, "tsdb")}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        ready: async () => (await fetch(`http://127.0.0.1:${promPort}/-/ready`)).ok,
        readyTimeoutMs: 30_000,
      }),
    );

    // Traffic, so that counters and histograms with labels have series: a proxy that NACKs, checks
    // that are denied, and rate-limit calls past a limit (examples/features/policies.yaml: 10/s per key).
    nackingProxy = new XdsClient({
      server: `127.0.0.1:${xds}`,
      node: { id: "gw-nack", cluster: "test", metadata: { role: "gateway", labels: { gateway: "basic" } } as never },
      logger: quiet,
    });
    nackingProxy.subscribe(ListenerSchema, {
      onUpdate: () => {
        throw new Error("refused by the test");
      },
    });
    nackingProxy.start();
    const auth = checkClient(authGrpc as number);
    const rl = createClient(RateLimitService, `127.0.0.1:${rlGrpc}`);
    try {
      await waitFor(async () => {
        const response = await auth.check(checkRequest({ configId: "policies/users" }));
        return response.status?.code !== 0 && !JSON.stringify(response).includes("unknown auth config");
      });
      const call = () =>
        rl.shouldRateLimit({
          domain: "store",
          hitsAddend: 1,
          descriptors: [{ entries: [{ key: "api_key", value: "k1" }] }],
        });
      await waitFor(async () => (await call()).overallCode === 2, { what: "an OVER_LIMIT answer" });
    } finally {
      auth.close();
      rl.close();
    }
  }, 180_000);

  afterAll(async () => {
    await nackingProxy?.stop();
    for (const proc of processes.reverse()) await proc.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("scrapes the server, ext-auth and rate-limit metrics ports", async () => {
    const up = await waitFor(async () => {
      const found = await series('up{job=~"gantry-.*"} == 1');
      return found.length === 4 ? found : undefined;
    });
    expect(up.map((s) => s.metric["job"]).sort()).toEqual([
      "gantry-agent",
      "gantry-extauth",
      "gantry-ratelimit",
      "gantry-server",
    ]);
  });

  it("the registered agent's report reaches the cluster registry: gantry get clusters shows it connected", async () => {
    const east = await waitFor(
      async () => {
        const got = await runGantry(["get", "clusters", "east", "-o", "json", "--server", apiUrl], {
          timeoutMs: 60_000,
        });
        const cluster = JSON.parse(got.stdout || "{}") as Record<string, unknown>;
        return cluster["connected"] === true && cluster["resources"] === 1 ? cluster : undefined;
      },
      { timeoutMs: 30_000, what: "cluster east connected in gantry get clusters" },
    );
    expect(east).toMatchObject({ name: "east", connected: true, identity: expect.stringContaining("/cluster/east") });
    expect(east["agentVersion"]).toMatch(/\S/);
  });

  it("has the series of each process's own metrics", async () => {
    const expected: Array<[string, string]> = [
      ["gantry_xds_connected_proxies", "gantry-server"],
      ["gantry_xds_pushes_total", "gantry-server"],
      ["gantry_xds_nacks_total", "gantry-server"],
      ["gantry_translation_seconds_bucket", "gantry-server"],
      ["gantry_resources", "gantry-server"],
      ["gantry_published_revision", "gantry-server"],
      ["gantry_extauth_checks_total", "gantry-extauth"],
      ["gantry_extauth_check_duration_seconds_bucket", "gantry-extauth"],
      ["gantry_extauth_configs", "gantry-extauth"],
      ["gantry_ratelimit_request_duration_seconds_bucket", "gantry-ratelimit"],
      ["gantry_ratelimit_rule_over_limit", "gantry-ratelimit"],
      ["gantry_grpc_limit_in_use", "gantry-ratelimit"],
      ["gantry_relay_agents", "gantry-server"],
      ["gantry_relay_outputs_total", "gantry-server"],
      ["gantry_relay_discoveries_total", "gantry-server"],
      ["gantry_relay_certificates_issued_total", "gantry-server"],
      ["gantry_insight", "gantry-server"],
      ["gantry_agent_relay_connected", "gantry-agent"],
      ["gantry_agent_outputs_total", "gantry-agent"],
    ];
    for (const [metric, job] of expected) {
      await waitFor(async () => (await series(`${metric}{job="${job}"}`)).length > 0, {
        what: `${metric} scraped from ${job}`,
      });
    }
  });

  it("exports every metric the docs, alert rules and dashboards name, with the labels they use", async () => {
    // Every process's exposition, read once the traffic above has given the labelled series samples.
    const families = new Map<string, ExportedFamily>();
    for (const url of metricsUrls.values()) exportedFamilies(await (await fetch(url)).text(), families);
    const problems: string[] = [];
    for (const { name, file, labels } of documentedMetrics()) {
      const family = familyOf(name, families);
      if (!family) {
        const elsewhere = conditionalMetrics.get(name);
        if (!elsewhere) problems.push(`${file}: ${name} is exported by no process`);
        continue;
      }
      // Labels can be checked only on a family with samples.
      for (const label of labels) {
        if (family.sampled && !implicitLabels.has(label) && !family.labels.has(label)) {
          problems.push(`${file}: ${name} has no label ${label} (it has ${[...family.labels].sort().join(", ")})`);
        }
      }
    }
    for (const { file, expr, metrics, byLabels } of deployedQueries()) {
      const read = metrics.map((m) => familyOf(m, families)).filter((f) => f !== undefined);
      if (read.length === 0 || read.some((f) => !f.sampled)) continue;
      for (const label of byLabels) {
        if (!implicitLabels.has(label) && !read.some((f) => f.labels.has(label))) {
          problems.push(`${file}: ${expr}: aggregates by ${label}, which none of ${metrics.join(", ")} has`);
        }
      }
    }
    expect(problems).toEqual([]);
    // The metrics only another mode registers are still named in the code that registers them.
    for (const [name, { source }] of conditionalMetrics) {
      expect(readFileSync(join(root, source), "utf8"), `${name} in ${source}`).toContain(`"${name}"`);
    }
  });

  it("loads every alert rule, healthy", async () => {
    const response = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
    };
    const rules = response.data.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(5);
    await waitFor(
      async () => {
        const current = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/rules`)).json()) as typeof response;
        const unhealthy = current.data.groups.flatMap((g) => g.rules).filter((r) => r.health !== "ok");
        return unhealthy.length === 0 || undefined;
      },
      { what: "every rule evaluated without error" },
    );
  });

  it("runs every Grafana panel's query: it parses and returns series", async () => {
    const queries = panelQueries();
    expect(queries.length).toBeGreaterThan(30);
    for (const { dashboard, panel, expr } of queries) {
      const pending = [...pendingMetrics.keys()].find((metric) => expr.includes(metric));
      const where = `${dashboard} / "${panel}": ${expr}`;
      const answer = await waitFor(
        async () => {
          const result = await query(expr);
          if (result.status !== "success") return result;
          return pending || (result.data?.result.length ?? 0) > 0 ? result : undefined;
        },
        { what: `series for ${where}`, timeoutMs: 15_000 },
      );
      expect(answer.status, `${where}: ${answer.error ?? ""}`).toBe("success");
    }
  });
});

const promtoolBin = needTool("promtool", "install with: sudo apt-get install --no-install-recommends prometheus");

describe.skipIf(!promtoolBin)("alert rules (deploy/prometheus/alerts.yml)", () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(promtoolBin as string, args, { cwd: join(root, "deploy/prometheus") }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
      );
    });

  it("pass promtool's checks and unit tests", async () => {
    const check = await run(["check", "rules", "alerts.yml"]);
    expect(check.code, check.output).toBe(0);
    const tests = await run(["test", "rules", "alerts.test.yml"]);
    expect(tests.code, tests.output).toBe(0);
  });

  it("every alert has a unit test that expects it to fire", () => {
    const alerts = [
      ...readFileSync(join(root, "deploy/prometheus/alerts.yml"), "utf8").matchAll(/- alert: (\w+)/g),
    ].map((m) => m[1]);
    const tests = readFileSync(join(root, "deploy/prometheus/alerts.test.yml"), "utf8");
    for (const alert of alerts) {
      expect(tests, alert).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
    }
  });
});
