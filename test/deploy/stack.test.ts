import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadResources } from "../../src/resources/index.js";
import { storedDocument } from "../../src/server/relay/index.js";
import type { ResourceDocument } from "../../src/store/index.js";
import { State, Translator } from "../../src/translate/index.js";
import { panelQueries } from "../observability/dashboards.js";

/*
 * No container engine runs where Gantry is built, so the local stack cannot be started here.
 * These tests check what can be checked without one: the compose file's structure and every file,
 * command and flag it names; the resources it loads; the Envoy bootstraps (test/server/bootstrap);
 * and that the Prometheus and Grafana files name real services and metrics.
 */

const run = promisify(execFile);
const root = new URL("../../", import.meta.url);
const bin = new URL("bin/gantry.js", root).pathname;
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

interface Service {
  image?: string;
  entrypoint?: string[];
  build?: string;
  command?: string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: string[];
  environment?: Record<string, string>;
}

const compose = parse(read("docker-compose.yml"), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

describe("docker-compose.yml (checked without a container engine)", () => {
  const services = compose.services;

  it("has the whole stack: Envoy gateway and sidecar, app, server, extauth, ratelimit, three Redis, collectors, Jaeger, Prometheus, Grafana", () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        "envoy-gateway",
        "envoy-sidecar",
        "gantry-extauth",
        "gantry-ratelimit",
        "gantry-server",
        "grafana",
        "jaeger",
        "otel-collector",
        "otel-gateway",
        "prometheus",
        "redis-extauth",
        "redis-management",
        "redis-ratelimit",
        "sample-app",
        "register-west",
        "gantry-agent-west",
        "envoy-west",
        "sample-app-west",
        "envoy-eastwest-west",
      ].sort(),
    );
    for (const [name, service] of Object.entries(services)) {
      expect(service.image ?? service.build, `${name} needs an image or a build`).toBeTruthy();
      for (const dependency of service.depends_on ?? [])
        expect(services, `${name} depends on ${dependency}`).toHaveProperty(dependency);
    }
  });

  it("mounts only files that exist, and named volumes that are declared", () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0] as string;
        if (source.startsWith("./")) expect(existsSync(new URL(source, root)), `${name}: ${source}`).toBe(true);
        else expect(compose.volumes, `${name}: volume ${source}`).toHaveProperty(source);
      }
    }
  });

  it("publishes each host port once", () => {
    const hostPorts = Object.values(services).flatMap((s) => (s.ports ?? []).map((p) => p.split(":")[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });

  it("runs gantry subcommands with flags they have", async () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.image !== "gantry:local") continue;
      // A one-shot that runs gantry from a shell (to keep its output in a file): the gantry part of the line.
      const line = service.entrypoint ? /gantry\.js ([^>|&]*)/.exec(service.command?.[0] ?? "")?.[1] : undefined;
      if (service.entrypoint) expect(line, `${name}: a gantry command in its shell line`).toBeTruthy();
      const [subcommand, ...args] = line
        ? [line.trim().split(/\s+/).slice(0, 2).join(" "), ...line.trim().split(/\s+/).slice(2)]
        : (service.command ?? []);
      if (line) {
        // `cluster add west --server URL`: the positional argument is no flag.
        const { stdout: help } = await run(process.execPath, [bin, ...(subcommand as string).split(" "), "--help"]);
        for (const arg of args.filter((a) => a.startsWith("--"))) expect(help, `${name}: ${arg}`).toContain(`${arg} `);
        continue;
      }
      const { stdout: help } = await run(process.execPath, [bin, subcommand as string, "--help"]);
      for (const arg of args) {
        const flag = arg.split("=")[0] as string;
        expect(help, `${name}: gantry ${subcommand} ${flag}`).toContain(`${flag} `);
      }
    }
  });

  it("Gantry's services send traces to the workload collector, which runs deploy/otel's config", () => {
    for (const name of ["gantry-server", "gantry-extauth", "gantry-ratelimit"]) {
      expect(services[name]?.command, name).toContain("--tracing-endpoint=http://otel-collector:4318/v1/traces");
    }
    expect(services["otel-collector"]?.volumes).toEqual(["./deploy/otel/workload.yaml:/etc/otelcol/workload.yaml:ro"]);
    expect(services["otel-gateway"]?.volumes).toEqual(["./deploy/otel/gateway.yaml:/etc/otelcol/gateway.yaml:ro"]);
    expect(services["otel-gateway"]?.environment?.["OTEL_TRACES_BACKEND"]).toBe("jaeger:4317");
  });

  it("Prometheus scrapes each Gantry service on its metrics port", () => {
    const prometheus = parse(read("deploy/prometheus/prometheus.yml")) as {
      scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets.sort()).toEqual([
      "gantry-extauth:9092",
      "gantry-ratelimit:9093",
      "gantry-server:9091",
      "otel-gateway:8889",
    ]);
    for (const target of targets) expect(services).toHaveProperty(target.split(":")[0] as string);
  });

  it("the Grafana dashboards and the alerts only query metrics Gantry exports", () => {
    const exported = new Set<string>();
    // Every metric is declared in src/ with its name as a literal (or, for insights, a named constant).
    const code = readdirSync(new URL("src/", root), { recursive: true })
      .filter((file) => String(file).endsWith(".ts") && !String(file).startsWith("gen/"))
      .map((file) => read(`src/${file}`))
      .join("\n");
    for (const match of code.matchAll(/MetricName = "(gantry_[a-z_]+)"/g)) exported.add(match[1] as string);
    for (const match of code.matchAll(/name: [`"](gantry_[a-z_]+)(\$\{name\})?[`"]/g)) exported.add(match[1] as string);
    for (const match of code.matchAll(/\[\s*"\w+",\s*"([a-z_]+)",/g)) exported.add(`gantry_ratelimit_rule_${match[1]}`);
    const queries = [
      ...panelQueries().map((q) => q.expr),
      ...[...read("deploy/prometheus/alerts.yml").matchAll(/gantry_[a-z_]+/g)].map((m) => m[0]),
    ];
    expect(queries.length).toBeGreaterThan(30);
    for (const query of queries) {
      for (const [metric] of query.matchAll(/gantry_[a-z_]+/g)) {
        const base = metric.replace(/_(bucket|sum|count)$/, "");
        expect(exported, `${metric} in "${query}"`).toContain(base);
      }
    }
  });
});

describe("deploy/config (the stack's resources)", () => {
  it("loads and translates with every resource ACCEPTED", async () => {
    // West's agent relays its Destinations; the server stores them as `<name>.west` (docs/multicluster.md).
    const discovered = mkdtempSync(join(tmpdir(), "gantry-stack-"));
    const west = parse(read("deploy/west/discovery/sample.yaml")) as ResourceDocument;
    writeFileSync(join(discovered, "west.yaml"), stringify(storedDocument("west", west)));
    const { resources, rejected } = await loadResources([new URL("deploy/config", root).pathname, discovered]);
    rmSync(discovered, { recursive: true, force: true });
    expect(rejected).toEqual([]);
    const translation = new Translator({
      extAuth: { host: "gantry-extauth", port: 8083 },
      rateLimit: { host: "gantry-ratelimit", port: 8081 },
    }).translate(resources);
    const problems = [...translation.statuses].filter(([, s]) => s.state !== State.ACCEPTED);
    expect(problems).toEqual([]);
    expect(translation.groups.map((g) => `${g.name} ${JSON.stringify(g.proxies.labels)}`).sort()).toEqual([
      'stack/edge {"gateway":"edge"}',
      'stack/sample-sidecar {"app":"sample"}',
      'stack/west-east-west {"gateway":"west-east-west"}',
      'stack/west-edge {"gateway":"west-edge"}',
    ]);
    expect(translation.groups.find((g) => g.name === "stack/west-edge")?.proxies.clusters).toEqual(["west"]);
    expect(translation.authConfigIds).toEqual(["stack/admins"]);
  });

  it("selects the proxies the committed Envoy bootstraps describe", () => {
    const gateway = parse(read("envoy-configs/gateway.yaml")) as {
      node: { metadata: { labels: Record<string, string> } };
    };
    const sidecar = parse(read("envoy-configs/sidecar.yaml")) as {
      node: { metadata: { labels: Record<string, string> } };
    };
    expect(gateway.node.metadata.labels).toEqual({ gateway: "edge" });
    expect(sidecar.node.metadata.labels).toEqual({ app: "sample" });
    const west = parse(read("envoy-configs/west-gateway.yaml")) as {
      node: { cluster: string; metadata: { labels: Record<string, string>; cluster: string } };
    };
    expect(west.node.metadata).toMatchObject({ labels: { gateway: "west-edge" }, cluster: "west" });
    const eastWest = parse(read("envoy-configs/west-eastwest.yaml")) as {
      node: { cluster: string; metadata: { labels: Record<string, string>; cluster: string } };
    };
    expect(eastWest.node.metadata).toMatchObject({ labels: { gateway: "west-east-west" }, cluster: "west" });
  });

  it("gives west's east-west gateway the address its Gateway names", () => {
    const service = compose.services["envoy-eastwest-west"] as Service & {
      networks?: { default?: { ipv4_address?: string } };
    };
    const stack = read("deploy/config/stack.yaml");
    const address = service.networks?.default?.ipv4_address;
    expect(address).toBeDefined();
    expect(stack).toContain(`externalAddresses: [{ address: ${address} }]`);
  });
});
