import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { desiredStatus, parseObject } from "../../src/kube/index.js";
import { kinds, loadResources, parseResources } from "../../src/resources/index.js";
import { State, translate } from "../../src/translate/index.js";
import { runGantry } from "../support/cli.js";
import { auditedDocs, type CodeBlock, parseMarkdown, root } from "./markdown.js";

/**
 * Every example a user may copy from the audited docs is what Gantry takes: each ```yaml block is
 * loaded by the real loader (gantry/v1 documents), parsed as the Kubernetes source and the admission
 * webhook parse objects (gantry.dev/v1), or, for the Kubernetes objects that are not Gantry's (RBAC,
 * webhook configuration, a pod's volume, a status), read as YAML. A new kind of block fails here until
 * this test knows how to check it.
 */

const blocks = auditedDocs.flatMap((doc) => parseMarkdown(doc).blocks);
const yamlBlocks = blocks.filter((b) => b.language === "yaml");
const where = (b: CodeBlock) => `${b.doc}:${b.line}`;

/** A block's YAML documents as plain values. */
function values(block: CodeBlock): unknown[] {
  const docs = parseAllDocuments(block.text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list)
    expect(
      d.errors.map((e) => e.message),
      where(block),
    ).toEqual([]);
  return list.map((d) => d.toJS() as unknown);
}

/**
 * The loader's problems with a block of gantry/v1 documents. Two forms of the docs are not whole
 * documents: the envelope of resources.md (`spec: { ... }` stands for any spec) and a bare
 * `metadata:` fragment (placement), checked as a Gateway's.
 */
function gantryProblems(block: CodeBlock): { loaded: number; problems: string[] } {
  let text = block.text.replace(/spec: \{ \.\.\. \}/, "spec: {}");
  if (/^metadata:/.test(text)) text = `apiVersion: gantry/v1\nkind: Gateway\n${text}spec: {}\n`;
  const result = parseResources(text, where(block));
  return { loaded: result.resources.length, problems: result.rejected.flatMap((r) => r.errors) };
}

const otherKubernetesObjects = new Set(["admissionregistration.k8s.io/v1", "rbac.authorization.k8s.io/v1"]);

describe("the docs' YAML examples load", () => {
  it("finds the examples", () => {
    expect(yamlBlocks.length).toBeGreaterThanOrEqual(8);
  });

  it.each(yamlBlocks.map((b) => [where(b), b] as const))("%s", (_, block) => {
    const docs = values(block) as Array<Record<string, unknown> | null>;
    const first = docs[0] ?? {};
    const version = first["apiVersion"];
    if (version === "gantry/v1" || (version === undefined && "metadata" in first)) {
      const { loaded, problems } = gantryProblems(block);
      expect(problems).toEqual([]);
      expect(loaded).toBe(docs.length);
      return;
    }
    if (version === "gantry.dev/v1") {
      for (const object of docs) {
        const parsed = parseObject(object as Parameters<typeof parseObject>[0]);
        expect("errors" in parsed ? parsed.errors : [], where(block)).toEqual([]);
      }
      return;
    }
    if (typeof version === "string" && otherKubernetesObjects.has(version)) return;
    if ("status" in first || "volumes" in first) return; // a status as the server writes it; a pod's volumes
    throw new Error(`${where(block)}: test/docs/examples.test.ts does not know how to check this block`);
  });

  it("the status block is what the server writes: its states, and an accepted resource's condition", () => {
    const block = yamlBlocks.find((b) => b.text.startsWith("status:"));
    const shown = (values(block as CodeBlock)[0] as { status: { state: string; conditions: object[] } }).status;
    const states = /state: \w+\s+# (.*)/.exec(block?.text ?? "")?.[1]?.split(" | ") ?? [];
    const written = Object.values(State)
      .filter((s): s is State => typeof s === "number")
      .map(
        (state) =>
          desiredStatus({
            outcome: { translated: { state, messages: [] } },
            generation: 3,
            policies: [],
            current: undefined,
            nowMs: 0,
          }).state,
      );
    expect([...new Set(written)].sort()).toEqual([...states].sort());
    const accepted = desiredStatus({
      outcome: { translated: { state: State.ACCEPTED, messages: [] } },
      generation: 3,
      policies: ["RetryTimeoutPolicy/shop/retry", "CORSPolicy/shop/cors"],
      current: undefined,
      nowMs: Date.parse("2026-12-03T12:00:00Z"),
    });
    expect(accepted).toEqual(shown);
  });
});

describe("examples/ loads and is accepted", () => {
  const folders = ["examples/features", "examples/portal"];

  it.each(folders.map((f) => [f]))("%s: every document loads, every resource is accepted", async (folder) => {
    const loaded = await loadResources([join(root, folder)]);
    expect(loaded.rejected.flatMap((r) => r.errors)).toEqual([]);
    const translation = translate(loaded.resources);
    const refused = [...translation.statuses]
      .filter(([, s]) => s.state === State.INVALID || s.state === State.FAILED)
      .map(([key, s]) => `${key}: ${s.messages.join("; ")}`);
    expect(refused).toEqual([]);
  });

  it("every kind has an example (resources.md: examples/features/, the portal's in examples/portal/)", async () => {
    const loaded = await loadResources(folders.map((f) => join(root, f)));
    const shown = new Set(loaded.resources.map((r) => r.kind));
    expect(kinds.filter((k) => !shown.has(k))).toEqual([]);
  });
});

describe("the docs' bootstrap examples are what `gantry bootstrap` prints", () => {
  it("grpc-proxyless.md: the gRPC bootstrap for its command line", async () => {
    const { blocks: docBlocks } = parseMarkdown("docs/grpc-proxyless.md");
    const command = docBlocks.find((b) => b.language === "sh" && b.text.includes("--format grpc"));
    const json = docBlocks.find((b) => b.language === "json" && b.text.includes("xds_servers"));
    const args = (command?.text ?? "").replace(/\\\n/g, " ").replace(/>.*$/s, "").trim().split(/\s+/).slice(2); // "npx gantry"
    const printed = await runGantry(args);
    expect(printed.stderr).toBe("");
    expect(JSON.parse(printed.stdout)).toEqual(JSON.parse(json?.text ?? "null"));
  });

  it("multicluster-routing.md: the node of a bootstrap with --cluster east", async () => {
    const { blocks: docBlocks } = parseMarkdown("docs/multicluster-routing.md");
    const json = docBlocks.find((b) => b.language === "json" && b.text.includes('"node"'));
    const node = JSON.parse(`{${json?.text ?? ""}}`).node as Record<string, unknown>;
    const printed = await runGantry([
      "bootstrap",
      "--format",
      "grpc",
      "--node-id",
      "checkout-1",
      "--labels",
      "app=checkout",
      "--cluster",
      "east",
    ]);
    const written = (JSON.parse(printed.stdout) as { node: Record<string, unknown> }).node;
    expect(written).toMatchObject(node);
  });
});
