#!/usr/bin/env node
// Runs before `npm test`: makes sure the real servers and tools the integration tests start are here.
// Debian packages are installed with apt-get when run as root; Go tools are built from the Go module
// proxy into .cache/bin, the Java interop client with Maven from Maven Central. Otherwise it says what to install, and those suites skip locally
// (under CI=true they fail instead: nothing may be skipped in CI).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const localBin = join(root, ".cache", "bin");
const searchPath = [localBin, ...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
const inCI = process.env.CI === "true";
/** Pinned peer modules, shared with the tests that read their sources (test/support/peers.ts). */
const peers = JSON.parse(readFileSync(join(root, "scripts", "peer-modules.json"), "utf8"));
const anchor = `${peers.envoyproxyRatelimit.module}@${peers.envoyproxyRatelimit.version}`;

/** Debian packages the tests need, by the command each provides. */
const aptTools = [
  { command: "redis-server", pkg: "redis-server" },
  { command: "redis-cli", pkg: "redis-tools" },
  { command: "slapd", pkg: "slapd" },
  { command: "ldapadd", pkg: "ldap-utils" },
  // Prometheus scrapes every metrics port in test/observability; promtool unit-tests the alert rules.
  { command: "prometheus", pkg: "prometheus" },
  { command: "promtool", pkg: "prometheus" },
  // The UI and portal tests drive Debian's Chromium with playwright-core (test/support/browser.ts).
  { command: "chromium", pkg: "chromium" },
  // etcd and kubectl run with the real kube-apiserver built below (test/support/kube.ts).
  { command: "etcd", pkg: "etcd-server" },
  { command: "kubectl", pkg: "kubectl" },
];

/** Go tools the tests need, built from the Go module proxy into .cache/bin. Pinned for repeatable runs. */
const goTools = [
  { command: "opa", module: "github.com/open-policy-agent/opa@v1.22.2" },
  // envoyproxy/ratelimit, the peer that must read the RateLimitConfigs Gantry serves over xDS.
  {
    command: "service_cmd",
    module: `${peers.envoyproxyRatelimit.module}/src/service_cmd@${peers.envoyproxyRatelimit.version}`,
  },
  // h2spec, an HTTP/2 conformance suite run against the data-plane gRPC server's own HTTP/2 layer.
  { command: "h2spec", module: "github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible" },
];

function find(command) {
  for (const dir of searchPath) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const problems = [];

const missingApt = aptTools.filter((t) => !find(t.command));
if (missingApt.length > 0) {
  const pkgs = [...new Set(missingApt.map((t) => t.pkg))];
  if (isRoot) {
    console.log(`test-prereqs: installing ${pkgs.join(", ")} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...pkgs], { stdio: "inherit", env });
  } else {
    problems.push(`install with: sudo apt-get install ${pkgs.join(" ")}`);
  }
}

for (const tool of goTools) {
  if (find(tool.command)) continue;
  if (!find("go")) {
    problems.push(`${tool.command}: install Go, then: GOBIN=${localBin} go install ${tool.module}`);
    continue;
  }
  console.log(`test-prereqs: building ${tool.command} (go install ${tool.module})`);
  mkdirSync(localBin, { recursive: true });
  execFileSync("go", ["install", tool.module], {
    stdio: "inherit",
    env: { ...process.env, GOBIN: localBin, GOFLAGS: "-mod=mod" },
  });
}

// The OPA-Envoy plugin, the peer of `gantry extauth`'s OPA evaluator: built from the source kept in
// ../shared/peers (the Go module proxy does not serve it as a command), once; its dependencies come from the proxy.
// The source is in `shared/peers/` beside the checkout (or beside a folder of worktrees).
function peerSource(name) {
  for (let dir = dirname(root); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      accessSync(join(dir, "shared", "peers", name, "go.mod"));
      return join(dir, "shared", "peers", name);
    } catch {
      // not beside this folder
    }
  }
  return undefined;
}
if (!find("opa-envoy-plugin")) {
  const source = peerSource("opa-envoy-plugin");
  if (!find("go") || !source) {
    problems.push("opa-envoy-plugin: install Go and keep ../shared/peers/opa-envoy-plugin (see its README)");
  } else {
    console.log(`test-prereqs: building opa-envoy-plugin from ${source}`);
    mkdirSync(localBin, { recursive: true });
    execFileSync("go", ["build", "-o", join(localBin, "opa-envoy-plugin"), "./cmd/opa-envoy-plugin"], {
      cwd: source,
      stdio: "inherit",
    });
  }
}

// envoyproxy/ratelimit's own protos, which test/ratelimit/rls-conf-proto.test.ts compares ours with, are
// read from its module in the Go module cache (a no-op when it is there already).
if (find("go")) {
  execFileSync("go", ["mod", "download", anchor], { stdio: "inherit", env: { ...process.env, GOFLAGS: "-mod=mod" } });
} else {
  problems.push(`go: install Go, then: go mod download ${anchor}`);
}

/** A hash of the files a build reads, so a build is redone exactly when one of them changed. */
function stampOf(files) {
  const hash = createHash("sha256");
  for (const file of files) hash.update(file).update(readFileSync(join(root, file)));
  return hash.digest("hex");
}

function upToDate(stampFile, stamp) {
  return existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp;
}

// The Go gRPC xDS client of the interop matrix (test/interop/go), pinned by its go.mod and go.sum.
{
  const sources = ["test/interop/go/go.mod", "test/interop/go/go.sum", "test/interop/go/main.go"];
  const binary = join(localBin, "gantry-interop-go");
  const stampFile = `${binary}.stamp`;
  const stamp = stampOf(sources);
  if (!existsSync(binary) || !upToDate(stampFile, stamp)) {
    if (!find("go")) {
      problems.push(`gantry-interop-go: install Go, then run this script again`);
    } else {
      console.log("test-prereqs: building gantry-interop-go (Go gRPC xDS client, test/interop/go)");
      mkdirSync(localBin, { recursive: true });
      execFileSync("go", ["build", "-o", binary, "."], {
        cwd: join(root, "test/interop/go"),
        stdio: "inherit",
        env: { ...process.env, GOFLAGS: "-mod=readonly" },
      });
      writeFileSync(stampFile, stamp);
    }
  }
}

// The Go ends of the mTLS and AccessPolicy tests (test/interop/go-mtls: an xDS-enabled gRPC server and a
// client with xDS credentials), pinned to the same Go gRPC as the interop client by its go.mod and go.sum.
{
  const dir = "test/interop/go-mtls";
  const binary = join(localBin, "gantry-mtls-go-v2");
  const stampFile = `${binary}.stamp`;
  const stamp = stampOf(["go.mod", "go.sum", "main.go", "server.go", "client.go"].map((f) => `${dir}/${f}`));
  if (!existsSync(binary) || !upToDate(stampFile, stamp)) {
    if (!find("go")) {
      problems.push("gantry-mtls-go-v2: install Go, then run this script again");
    } else {
      console.log(`test-prereqs: building gantry-mtls-go-v2 (Go gRPC xDS server and client, ${dir})`);
      mkdirSync(localBin, { recursive: true });
      execFileSync("go", ["build", "-o", binary, "."], {
        cwd: join(root, dir),
        stdio: "inherit",
        env: { ...process.env, GOFLAGS: "-mod=readonly" },
      });
      writeFileSync(stampFile, stamp);
    }
  }
}

// The OpenTelemetry Collector the tracing tests send spans to (test/observability/otelcol: OTLP in; debug,
// file, OTLP and Prometheus exporters), pinned to one collector release by its go.mod and go.sum.
{
  const dir = "test/observability/otelcol";
  const binary = join(localBin, "gantry-otelcol");
  const stampFile = `${binary}.stamp`;
  const stamp = stampOf([`${dir}/go.mod`, `${dir}/go.sum`, `${dir}/main.go`]);
  if (!existsSync(binary) || !upToDate(stampFile, stamp)) {
    if (!find("go")) {
      problems.push("gantry-otelcol: install Go, then run this script again");
    } else {
      console.log(`test-prereqs: building gantry-otelcol (OpenTelemetry Collector, ${dir})`);
      mkdirSync(localBin, { recursive: true });
      execFileSync("go", ["build", "-o", binary, "."], {
        cwd: join(root, dir),
        stdio: "inherit",
        env: { ...process.env, GOFLAGS: "-mod=readonly" },
      });
      writeFileSync(stampFile, stamp);
    }
  }
}

// Helm, for the chart's test (test/deploy/helm.test.ts: `helm template`, then a server-side dry run),
// built from the Go module proxy once per version (the stamp holds it); niced, as it is a long build.
{
  const version = "v4.3.2";
  const binary = join(localBin, "helm");
  const stampFile = `${binary}.stamp`;
  if (!existsSync(binary) || !upToDate(stampFile, version)) {
    if (!find("go")) {
      problems.push("helm: install Go, then run this script again");
    } else {
      console.log(`test-prereqs: building helm ${version} (go install helm.sh/helm/v4/cmd/helm@${version})`);
      mkdirSync(localBin, { recursive: true });
      execFileSync("nice", ["-n", "10", "go", "install", `helm.sh/helm/v4/cmd/helm@${version}`], {
        stdio: "inherit",
        env: { ...process.env, GOBIN: localBin, GOFLAGS: "-mod=mod" },
      });
      writeFileSync(stampFile, version);
    }
  }
}

// The Java gRPC xDS client of the interop matrix (test/interop/java, io.grpc:grpc-xds pinned in its pom.xml),
// built with Maven into .cache/interop-java with its jars beside it; the Maven repository is .cache/m2, so a
// rebuild needs no network. .cache/bin/gantry-interop-java starts it.
{
  const project = "test/interop/java";
  const sources = [`${project}/pom.xml`, `${project}/src/main/java/dev/gantry/interop/Client.java`];
  const out = join(root, ".cache", "interop-java");
  const launcher = join(localBin, "gantry-interop-java");
  const stampFile = `${launcher}.stamp`;
  const stamp = stampOf(sources);
  if (!existsSync(launcher) || !upToDate(stampFile, stamp)) {
    if (!find("mvn") || !find("java")) {
      problems.push("gantry-interop-java: install a JDK (17+) and Maven 3, then run this script again");
    } else {
      console.log("test-prereqs: building gantry-interop-java (Java gRPC xDS client, test/interop/java)");
      const started = performance.now();
      mkdirSync(localBin, { recursive: true });
      rmSync(out, { recursive: true, force: true });
      execFileSync(
        "mvn",
        [
          "-B",
          "-q",
          "-Dstyle.color=never",
          `-Dmaven.repo.local=${join(root, ".cache", "m2")}`,
          `-Dgantry.out=${out}`,
          "package",
          "dependency:copy-dependencies",
        ],
        { cwd: join(root, project), stdio: "inherit" },
      );
      // Found from the launcher's own place, so the build stays valid wherever the checkout is.
      const classPath = '"$here/../interop-java/classes:$here/../interop-java/dependency/*"';
      writeFileSync(
        launcher,
        `#!/bin/sh\nhere=$(dirname "$0")\nexec java -cp ${classPath} dev.gantry.interop.Client "$@"\n`,
        { mode: 0o755 },
      );
      writeFileSync(stampFile, stamp);
      console.log(`test-prereqs: built gantry-interop-java in ${Math.round((performance.now() - started) / 1000)} s`);
    }
  }
}

// The real Kubernetes API server (k8s.io/kubernetes, pinned by the module in ../shared/peers/kube-apiserver), for the
// Kubernetes tests (test/support/kube.ts): about 6 minutes on 2 cores, so it is built niced and only when its module changes.
{
  const source = peerSource("kube-apiserver");
  const binary = join(localBin, "kube-apiserver");
  const stampFile = `${binary}.stamp`;
  const files = ["go.mod", "go.sum", "main.go"];
  const stamp = source
    ? files
        .reduce((hash, file) => hash.update(file).update(readFileSync(join(source, file))), createHash("sha256"))
        .digest("hex")
    : "";
  if (!existsSync(binary) || !upToDate(stampFile, stamp)) {
    if (!find("go") || !source) {
      problems.push("kube-apiserver: install Go and keep ../shared/peers/kube-apiserver (see its README)");
    } else {
      console.log(`test-prereqs: building kube-apiserver from ${source} (about 6 minutes)`);
      const started = performance.now();
      mkdirSync(localBin, { recursive: true });
      // The version it reports (kubectl checks it) is the pinned k8s.io/kubernetes release.
      const release = /k8s\.io\/kubernetes (v\S+)/.exec(readFileSync(join(source, "go.mod"), "utf8"))?.[1] ?? "v0.0.0";
      const ldflags = `-X k8s.io/component-base/version.gitVersion=${release}`;
      execFileSync("nice", ["-n", "10", "go", "build", "-ldflags", ldflags, "-o", binary, "."], {
        cwd: source,
        stdio: "inherit",
      });
      writeFileSync(stampFile, stamp);
      console.log(`test-prereqs: built kube-apiserver in ${Math.round((performance.now() - started) / 1000)} s`);
    }
  }
}

// grpcio (gRPC C-core) for the interop matrix's Python client, in .venv, pinned by its requirements file.
{
  const requirements = "test/interop/python/requirements.txt";
  const venv = join(root, ".venv");
  const python = join(venv, "bin", "python");
  const stampFile = join(venv, ".gantry-requirements");
  const stamp = stampOf([requirements]);
  if (!existsSync(python) || !upToDate(stampFile, stamp)) {
    const system = find("python3");
    if (!system) {
      problems.push("python3: install Python 3 (the grpcio interop client runs in .venv)");
    } else {
      console.log(`test-prereqs: installing ${requirements} into .venv`);
      if (!existsSync(python)) execFileSync(system, ["-m", "venv", venv], { stdio: "inherit" });
      execFileSync(
        python,
        ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", join(root, requirements)],
        {
          stdio: "inherit",
        },
      );
      writeFileSync(stampFile, stamp);
    }
  }
}

if (problems.length > 0) {
  const message = `test-prereqs: missing test tools:\n  - ${problems.join("\n  - ")}`;
  if (inCI) {
    console.error(`${message}\nCI=true: failing, because nothing may be skipped in CI.`);
    process.exit(1);
  }
  console.warn(`${message}\nThe suites that need them will skip.`);
}
