#!/usr/bin/env node
// Generates TypeScript for our protos and the Envoy protos we use into src/gen (git-ignored).
//
// Envoy's protos come from @grpc/grpc-js-xds's deps/ folder. Its bundled validate.proto is older than
// its envoy-api and lacks the `ignore_empty` string rule, so the tree is copied to .cache/protos and
// that one option is dropped there before `buf generate`.
//
// The work is skipped when nothing that feeds it changed: a stamp holds a hash of every input.
// Generation goes to a scratch folder that then replaces src/gen in one rename, under a lock, so a
// test run or a second codegen never sees a half-written src/gen.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const cacheDir = join(root, ".cache", "protos");
const outDir = join(root, "src", "gen");
const stampFile = join(root, ".cache", "codegen.stamp");
const lockDir = join(root, ".cache", "codegen.lock");

/** Envoy packages we generate (their imports come along). Add a folder here when code needs a new package. */
const envoyPaths = [
  "envoy/service/discovery/v3",
  "envoy/service/cluster/v3",
  "envoy/service/endpoint/v3",
  "envoy/service/listener/v3",
  "envoy/service/route/v3",
  "envoy/service/secret/v3",
  "envoy/service/status/v3",
  "envoy/config/bootstrap/v3",
  "envoy/config/listener/v3",
  "envoy/config/route/v3",
  "envoy/config/cluster/v3",
  "envoy/config/endpoint/v3",
  "envoy/config/core/v3",
  // Only the OpenTelemetry tracer: the folder's other tracers import protos grpc-js-xds does not ship.
  "envoy/config/trace/v3/opentelemetry.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3",
  "envoy/extensions/filters/network/tcp_proxy/v3",
  "envoy/extensions/filters/listener/tls_inspector/v3",
  "envoy/extensions/filters/http/router/v3",
  "envoy/extensions/filters/http/ext_authz/v3",
  "envoy/extensions/filters/http/ratelimit/v3",
  "envoy/extensions/filters/http/cors/v3",
  "envoy/extensions/filters/http/fault/v3",
  "envoy/extensions/filters/http/jwt_authn/v3",
  "envoy/extensions/filters/http/rbac/v3",
  "envoy/extensions/filters/http/local_ratelimit/v3",
  "envoy/extensions/transport_sockets/tls/v3",
  "envoy/extensions/upstreams/http/v3",
  "envoy/service/auth/v3",
  "envoy/service/ratelimit/v3",
];

function depsDir() {
  const pkgJson = require.resolve("@grpc/grpc-js-xds/package.json");
  return join(dirname(pkgJson), "deps");
}

function* walk(dir) {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

function inputsHash(deps) {
  const hash = createHash("sha256");
  const feed = (path) => hash.update(relative(root, path)).update("\0").update(readFileSync(path));
  for (const path of walk(join(root, "proto"))) feed(path);
  for (const file of ["buf.yaml", "buf.gen.yaml", "package-lock.json", "scripts/codegen.mjs"]) {
    if (existsSync(join(root, file))) feed(join(root, file));
  }
  for (const pkg of ["@grpc/grpc-js-xds", "@bufbuild/protoc-gen-es", "@bufbuild/buf"]) {
    hash.update(pkg).update(readFileSync(require.resolve(`${pkg}/package.json`)));
  }
  hash.update(deps);
  return hash.digest("hex");
}

function copyEnvoyProtos(deps) {
  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  for (const module of ["envoy-api", "xds", "googleapis", "protoc-gen-validate"]) {
    cpSync(join(deps, module), join(cacheDir, module), {
      recursive: true,
      filter: (src) => statSync(src).isDirectory() || src.endsWith(".proto"),
    });
  }
  // Drop the rule validate.proto does not know. It only ever appears inside a `string = {...}` rule.
  for (const path of walk(join(cacheDir, "envoy-api"))) {
    const text = readFileSync(path, "utf8");
    if (!text.includes("ignore_empty")) continue;
    writeFileSync(path, text.replace(/\s*,?\s*ignore_empty:\s*true\s*,?/g, " "));
  }
}

/** A cross-process lock (mkdir is atomic); a lock older than two minutes is a crashed run's and is taken over. */
function withLock(fn) {
  mkdirSync(join(root, ".cache"), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      if (Date.now() - statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs > 120_000) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`codegen: ${lockDir} is held; remove it if no codegen is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function generate(deps, hash) {
  const started = Date.now();
  copyEnvoyProtos(deps);
  const ownPaths = readdirSync(join(root, "proto")).map((d) => join("proto", d));
  const paths = [...ownPaths, ...envoyPaths.map((p) => join(".cache/protos/envoy-api", p))];
  const bin = join(root, "node_modules", ".bin");
  const scratch = join(root, ".cache", `gen-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  execFileSync(join(bin, "buf"), ["generate", "--output", scratch, ...paths.flatMap((p) => ["--path", p])], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  const old = join(root, ".cache", `gen-old-${process.pid}`);
  if (existsSync(outDir)) renameSync(outDir, old);
  renameSync(join(scratch, "src", "gen"), outDir);
  rmSync(old, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  writeFileSync(stampFile, hash);
  console.log(`codegen: generated src/gen in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

function main() {
  const deps = depsDir();
  const force = process.argv.includes("--force");
  withLock(() => {
    const hash = inputsHash(deps);
    if (!force && existsSync(stampFile) && existsSync(outDir) && readFileSync(stampFile, "utf8") === hash) {
      console.log("codegen: up to date (src/gen)");
      return;
    }
    generate(deps, hash);
  });
}

main();
