import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { allCrds, crdFiles } from "../../src/kube/index.js";
import { kinds } from "../../src/resources/index.js";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";
import { inCI } from "../support/tools.js";
import { crdDir, customResourceOf, installCrds } from "./support.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("deploy/crds", () => {
  it("is what the protos give (run `npm run build`, which runs scripts/crds.mjs, and commit deploy/crds)", () => {
    const files = crdFiles();
    for (const { file, text } of files) {
      const path = join(crdDir, file);
      expect(existsSync(path), `${path} is missing`).toBe(true);
      expect(readFileSync(path, "utf8"), `${path} differs from what the protos give`).toBe(text);
      // In CI the build has just written the files again: what counts is what is committed.
      if (inCI) {
        const committed = execFileSync("git", ["show", `HEAD:deploy/crds/${file}`], { cwd: root, encoding: "utf8" });
        expect(committed, `deploy/crds/${file} as committed differs from what the protos give`).toBe(text);
      }
    }
    const extra = readdirSync(crdDir).filter((f) => !files.some((g) => g.file === f));
    expect(extra).toEqual([]);
  });

  it("has one CRD per kind of the registry, each with a status subresource and printer columns", () => {
    const crds = allCrds();
    expect(crds.map((c) => c.kind)).toEqual(kinds);
    for (const { crd } of crds) {
      const [served] = (crd["spec"] as { versions: Array<Record<string, unknown>> }).versions;
      expect(served?.["subresources"]).toEqual({ status: {} });
      const columns = ((served?.["additionalPrinterColumns"] ?? []) as Array<{ name: string }>).map((c) => c.name);
      expect(columns).toContain("Status");
      expect(columns).toContain("Age");
    }
    // The kinds policies reach through routes show them (docs/kubernetes.md, "Columns"); no other kind does.
    const withPolicies = allCrds()
      .filter(({ crd }) => JSON.stringify(crd).includes('"name":"Policies"'))
      .map((c) => c.kind);
    expect(withPolicies.sort()).toEqual(["Destination", "Gateway", "RouteTable", "VirtualDestination"]);
  });
});

describe.skipIf(!haveKube())("the CRDs in a real kube-apiserver", () => {
  let kube: KubeApiServer;
  beforeAll(async () => {
    kube = await startKubeApiServer();
    await installCrds(kube);
  }, 180_000);
  afterAll(() => kube?.stop());

  it("are structural and served: every example resource passes the schema (server-side dry run)", async () => {
    const objects: unknown[] = [];
    const examples = join(root, "examples");
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".yaml") ? [join(dir, e.name)] : [],
      );
    for (const file of walk(examples)) {
      for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
        const value = doc.toJS() as { apiVersion?: string } | null;
        if (value?.apiVersion === "gantry/v1") objects.push(customResourceOf(value as never));
      }
    }
    expect(objects.length).toBeGreaterThan(10);
    const namespaces = new Set(objects.map((o) => (o as { metadata: { namespace: string } }).metadata.namespace));
    for (const ns of namespaces) {
      if (ns !== "default") await kube.kubectl(["create", "namespace", ns]);
    }
    const list = JSON.stringify({ apiVersion: "v1", kind: "List", items: objects });
    const out = await kube.kubectlOk(["create", "--dry-run=server", "-f", "-", "-o", "name"], list);
    expect(out.trim().split("\n")).toHaveLength(objects.length);
  }, 60_000);

  it("refuses a wrong type with the field's path", async () => {
    const bad = {
      apiVersion: "gantry.dev/v1",
      kind: "Gateway",
      metadata: { name: "bad", namespace: "default" },
      spec: { listeners: [{ port: "eighty" }] },
    };
    const result = await kube.kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(bad));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("spec.listeners[0].port");
  });

  it("lists every kind under `kubectl get gantry`", async () => {
    const result = await kube.kubectlOk(["api-resources", "--categories=gantry", "-o", "name"]);
    expect(result.trim().split("\n")).toHaveLength(kinds.length);
  });
});
