#!/usr/bin/env node
// Keeps package-lock.json acceptable to `npm ci` everywhere.
//
// Packages such as biome, buf and @node-rs/* ship their binaries as optional per-platform packages.
// The registry mirror on Gantry's build machines serves only the linux-x64 ones, so npm writes a lock
// without entries for the other platforms, and `npm ci` then refuses the lock as out of sync with
// package.json. This adds the missing entries with their os/cpu/libc, so that npm ci skips them on
// other platforms and fetches them by version where they apply. Runs from `prepare`; writes only on change.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const file = join(dirname(fileURLToPath(import.meta.url)), "..", "package-lock.json");
const text = readFileSync(file, "utf8");
const lock = JSON.parse(text);
const packages = lock.packages;

const oses = ["darwin", "linux", "win32", "android", "freebsd", "openbsd", "netbsd", "sunos", "aix"];
const cpus = {
  x64: "x64",
  arm64: "arm64",
  aarch64: "arm64",
  ia32: "ia32",
  arm: "arm",
  armv7: "arm",
  "arm-gnueabihf": "arm",
  riscv64: "riscv64",
  ppc64: "ppc64",
  s390x: "s390x",
  loong64: "loong64",
};

function platformOf(name) {
  const parts = name.split("/").pop().split("-");
  const os = oses.find((o) => parts.includes(o));
  const cpuPart = parts.find((p) => p in cpus);
  const libc = parts.includes("musl") ? "musl" : parts.includes("gnu") || parts.includes("glibc") ? "glibc" : undefined;
  return {
    ...(os ? { os: [os] } : {}),
    ...(cpuPart ? { cpu: [cpus[cpuPart]] } : {}),
    ...(libc ? { libc: [libc] } : {}),
  };
}

let added = 0;
for (const [path, meta] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    if (packages[`node_modules/${dep}`] || packages[`${path}/node_modules/${dep}`]) continue;
    const platform = platformOf(dep);
    if (!platform.os && !platform.cpu) continue; // not a platform binary: leave it to npm
    packages[`node_modules/${dep}`] = { version, ...(meta.dev ? { dev: true } : {}), optional: true, ...platform };
    added++;
  }
}

if (added > 0) {
  const sorted = Object.entries(packages).sort(([a], [b]) =>
    a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  lock.packages = Object.fromEntries(sorted);
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`lock-platforms: added ${added} per-platform optional packages to package-lock.json`);
}
