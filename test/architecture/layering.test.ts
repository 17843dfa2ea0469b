// The folders of src/ and what each may import, as docs/architecture.md states them. A new import
// across folders either fits this table or changes it, on purpose and in review.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = fileURLToPath(new URL("../../src", import.meta.url));

const allowed: Record<string, readonly string[]> = {
  lib: ["gen"],
  envoy: ["gen"],
  resources: ["gen"],
  "ratelimit-config": ["gen"],
  // OpenAPI documents: reading, checking (swagger-parser), operations and their coverage by routes.
  openapi: ["gen", "lib", "resources"],
  config: ["lib"],
  store: ["lib", "resources"],
  // A cluster's name is the rule `metadata.clusters` is checked by (resources/cluster-name.ts).
  cluster: ["gen", "lib", "resources"],
  kubernetes: ["lib", "trust"],
  xds: ["envoy", "gen", "lib"],
  trust: ["cluster", "envoy", "gen", "lib", "xds"],
  translate: ["envoy", "gen", "lib", "openapi", "ratelimit-config", "resources"],
  insights: ["gen", "lib", "resources", "translate", "xds"],
  extauth: ["config", "gen", "lib"],
  ratelimit: ["config", "gen", "lib", "ratelimit-config"],
  feeds: ["config", "extauth", "gen", "lib", "ratelimit", "xds"],
  // Gantry's custom resources: CRDs, the provider and source (over kubernetes' client and reflector), status and admission decisions.
  kube: ["config", "kubernetes", "lib", "resources", "store", "translate"],
  // The dashboard's OIDC sign-in uses the ext-auth server's OpenID provider client (discovery, keys, code exchange).
  server: [
    "cluster",
    "config",
    "envoy",
    "extauth",
    "gen",
    "insights",
    "kube",
    "kubernetes",
    "lib",
    "openapi",
    "resources",
    "store",
    "translate",
    "trust",
    "xds",
  ],
  // The agent serves its cluster as the server serves its own: the same Publisher and relay codec.
  agent: ["cluster", "config", "envoy", "gen", "kube", "kubernetes", "lib", "resources", "server", "trust", "xds"],
  // The portal's keys are ext-auth's own records; it reads resources and their schemas.
  portal: ["extauth", "gen", "lib", "openapi", "resources"],
  up: ["extauth", "feeds", "insights", "lib", "ratelimit", "server", "store"],
  cli: [
    "agent",
    "cluster",
    "config",
    "extauth",
    "feeds",
    "gen",
    "insights",
    "kube",
    "kubernetes",
    "lib",
    "portal",
    "ratelimit",
    "resources",
    "server",
    "store",
    "translate",
    "trust",
    "up",
    "xds",
  ],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

function importsAcrossFolders(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const folder of readdirSync(src)) {
    if (folder === "gen" || !statSync(join(src, folder)).isDirectory()) continue;
    const targets = new Set<string>();
    for (const file of files(join(src, folder))) {
      for (const match of readFileSync(file, "utf8").matchAll(/from "((?:\.\.\/)+[^"]+)"/g)) {
        const target = relative(src, normalize(join(dirname(file), match[1] ?? ""))).split("/")[0] ?? "";
        if (target !== folder) targets.add(target);
      }
    }
    found.set(folder, targets);
  }
  return found;
}

describe("src/ layering", () => {
  const found = importsAcrossFolders();

  it("names every folder of src/", () => {
    expect([...found.keys()].sort()).toEqual(Object.keys(allowed).sort());
  });

  it.each(Object.entries(allowed))("%s imports only what it may", (folder, may) => {
    const extra = [...(found.get(folder) ?? [])].filter((target) => !may.includes(target)).sort();
    expect(extra).toEqual([]);
  });
});
