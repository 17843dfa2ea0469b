import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterNameRule, loadResources, parseDocument, parseResources } from "../../src/resources/index.js";

const destination = (name: string, extra = "") => `apiVersion: gantry/v1
kind: Destination
metadata:
  name: ${name}
spec:
  ports: [{ number: 80 }]
  endpoints: [{ address: 10.0.0.1 }]${extra}
`;

describe("parseResources", () => {
  it("rejects an alias to no anchor, naming the file and line, instead of throwing", () => {
    const { resources, rejected } = parseResources("kind: Gateway\n---\nspec: *nowhere\n", "aliases.yaml");
    expect(resources).toEqual([]);
    expect(rejected.map((r) => r.errors)).toContainEqual([
      expect.stringMatching(/^aliases\.yaml:3: YAML: Unresolved alias/),
    ]);
  });

  it("reads several documents, defaulting the namespace and keeping labels", () => {
    const text = `${destination("a")}---
apiVersion: gantry/v1
kind: RouteTable
metadata:
  name: b
  namespace: shop
  labels: { team: blue }
spec:
  hosts: [b.example.com]
`;
    const { resources, rejected } = parseResources(text, "two.yaml");
    expect(rejected).toEqual([]);
    expect(resources.map((r) => [r.kind, r.metadata.namespace, r.metadata.name])).toEqual([
      ["Destination", "default", "a"],
      ["RouteTable", "shop", "b"],
    ]);
    expect(resources[1]?.metadata.labels).toEqual({ team: "blue" });
    expect(resources[1]?.source).toEqual({ file: "two.yaml", line: 9 });
  });

  it("rejects an unknown field naming file, line, resource and field path", () => {
    const text = `${destination("ok")}---
apiVersion: gantry/v1
kind: RouteTable
metadata:
  name: broken
spec:
  hosts: [x.example.com]
  http:
    - name: r
      forwardTo:
        destinations:
          - destination: { name: ok }
            wieght: 3
`;
    const { resources, rejected } = parseResources(text, "routes.yaml");
    expect(resources.map((r) => r.metadata.name)).toEqual(["ok"]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ ref: { kind: "RouteTable", namespace: "default", name: "broken" } });
    expect(rejected[0]?.errors).toEqual([
      expect.stringMatching(
        /^routes\.yaml:20: RouteTable default\/broken: spec\.http\[0\]\.forwardTo\.destinations\[0\]\.wieght: unknown field "wieght" in WeightedDestination/,
      ),
    ]);
  });

  it("reports every wrong type, with the expected type", () => {
    const text = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: gw }
spec:
  proxies: { labels: { app: 1 } }
  listeners:
    - port: "eighty"
      protocol: HTTP3
      httpsRedirect: yes please
`;
    const { rejected } = parseResources(text, "gw.yaml");
    const errors = rejected[0]?.errors ?? [];
    expect(errors).toHaveLength(4);
    expect(errors[0]).toMatch(
      /gw\.yaml:5: Gateway default\/gw: spec\.proxies\.labels\.app: expected a string, got number 1/,
    );
    expect(errors[1]).toMatch(/gw\.yaml:7: .*spec\.listeners\[0\]\.port: expected an integer, got string "eighty"/);
    expect(errors[2]).toMatch(/gw\.yaml:8: .*spec\.listeners\[0\]\.protocol: expected one of HTTP, HTTPS/);
    expect(errors[3]).toMatch(/gw\.yaml:9: .*spec\.listeners\[0\]\.httpsRedirect: expected true or false/);
  });

  it("rejects two members of one oneof and bad durations", () => {
    const text = `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: rt }
spec:
  http:
    - forwardTo: { timeout: 5 minutes }
      redirect: { host: a }
`;
    const errors = parseResources(text, "rt.yaml").rejected[0]?.errors ?? [];
    expect(errors.some((e) => /spec\.http\[0\]\.forwardTo\.timeout: not a valid Duration/.test(e))).toBe(true);
    expect(errors.some((e) => /spec\.http\[0\]\.redirect: only one of forwardTo and redirect may be set/.test(e))).toBe(
      true,
    );
  });

  it("checks the envelope: apiVersion, kind and metadata", () => {
    const text = `apiVersion: gantry/v2
kind: Gadget
metadata: { name: Bad_Name, owner: me }
spec: {}
extra: 1
`;
    const doc = parseResources(text, "env.yaml").rejected[0];
    expect(doc?.ref).toBeUndefined();
    const errors = doc?.errors.join("\n") ?? "";
    expect(errors).toMatch(/env\.yaml:5: .*extra: unknown field "extra"/);
    expect(errors).toMatch(/env\.yaml:1: .*apiVersion: expected "gantry\/v1", got "gantry\/v2"/);
    expect(errors).toMatch(/env\.yaml:2: .*kind: expected one of Gateway, RouteTable/);
    expect(errors).toMatch(/metadata\.owner: unknown field "owner"/);
    expect(errors).toMatch(/metadata\.name: expected lowercase letters/);
  });

  it("reports YAML syntax errors with their line and keeps the other documents", () => {
    const text = `${destination("fine")}---
apiVersion: gantry/v1
kind: Destination
metadata: { name: x
`;
    const { resources, rejected } = parseResources(text, "bad.yaml");
    expect(resources.map((r) => r.metadata.name)).toEqual(["fine"]);
    expect(rejected[0]?.errors[0]).toMatch(/^bad\.yaml:1[0-9]: YAML: /);
  });

  it("skips empty documents", () => {
    expect(parseResources("---\n---\n# nothing\n", "empty.yaml")).toEqual({ resources: [], rejected: [] });
  });
});

describe("loadResources", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gantry-load-"));
    await mkdir(join(dir, "nested"));
    await writeFile(join(dir, "a.yaml"), destination("one"));
    await writeFile(join(dir, "nested", "b.yml"), `${destination("two")}---\n${destination("one")}`);
    await writeFile(join(dir, "notes.txt"), "not a resource");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("walks folders in name order, reads only resource files and rejects redefinitions", async () => {
    const { resources, rejected } = await loadResources([dir]);
    expect(resources.map((r) => r.metadata.name)).toEqual(["one", "two"]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.errors[0]).toMatch(
      /nested\/b\.yml:9: Destination\/default\/one: defined again \(first at .*a\.yaml:1\); this definition is ignored/,
    );
  });
});

describe("parseDocument", () => {
  const cart = {
    apiVersion: "gantry/v1",
    kind: "Destination",
    metadata: { name: "cart", namespace: "shop" },
    spec: { ports: [{ number: 8080 }] },
  };

  it("reads a JSON value as the file loader reads a document", () => {
    const parsed = parseDocument(cart, "document 1");
    expect("errors" in parsed).toBe(false);
    const fromYaml = parseResources(JSON.stringify(cart), "document 1").resources[0];
    expect(parsed).toEqual(fromYaml);
  });

  it("rejects with the same checks, naming the document (at line 1: a JSON value has no lines), resource and field", () => {
    const parsed = parseDocument(
      { ...cart, metadata: { name: "cart" }, spec: { ports: [{ number: "eighty" }], colour: "blue" } },
      "document 2",
    );
    expect(parsed).toMatchObject({
      file: "document 2",
      ref: { kind: "Destination", namespace: "default", name: "cart" },
    });
    expect("errors" in parsed && parsed.errors).toEqual([
      expect.stringMatching(/^document 2:1: Destination default\/cart: spec\.ports\[0\]\.number: expected an integer/),
      expect.stringMatching(/^document 2:1: Destination default\/cart: spec\.colour: unknown field "colour"/),
    ]);
    expect(parseDocument([1, 2], "document 3")).toEqual({
      file: "document 3",
      line: 1,
      errors: ["document 3:1: expected a mapping with apiVersion, kind, metadata and spec"],
    });
  });
});

describe("metadata.clusters", () => {
  const doc = (kind: string, clusters: string, spec = "{}") =>
    `apiVersion: gantry/v1\nkind: ${kind}\nmetadata:\n  name: x\n  clusters: ${clusters}\nspec: ${spec}\n`;

  it("reads a placement, sorted, and leaves it out when empty", () => {
    const placed = parseResources(doc("Gateway", "[west, east]"), "gw.yaml");
    expect(placed.rejected).toEqual([]);
    expect(placed.resources[0]?.metadata.clusters).toEqual(["east", "west"]);
    expect(parseResources(doc("RouteTable", "[]"), "rt.yaml").resources[0]?.metadata).not.toHaveProperty("clusters");
  });

  it("rejects a placement on a kind that is not placed, more than one cluster for a Destination, and bad names", () => {
    const errors = (text: string) => parseResources(text, "c.yaml").rejected.flatMap((r) => r.errors);
    expect(errors(doc("HeaderPolicy", "[east]"))).toEqual([
      "c.yaml:5: HeaderPolicy default/x: metadata.clusters: a HeaderPolicy is not placed in clusters (only Gateway, RouteTable, Destination are); remove it",
    ]);
    expect(errors(doc("Destination", "[east, west]"))).toEqual([
      "c.yaml:5: Destination default/x: metadata.clusters: a Destination's endpoints run in one cluster; name at most 1, got 2",
    ]);
    expect(errors(doc("Gateway", "[East, east, east]"))).toEqual([
      `c.yaml:5: Gateway default/x: metadata.clusters[0]: expected a cluster name, ${clusterNameRule}; got "East"`,
      'c.yaml:5: Gateway default/x: metadata.clusters[2]: "east" is listed twice',
    ]);
    // An agent's --cluster is a DNS label: a dotted or over-long placement could never match one.
    expect(errors(doc("RouteTable", `[east, east.eu, ${"a".repeat(64)}]`))).toEqual([
      `c.yaml:5: RouteTable default/x: metadata.clusters[1]: expected a cluster name, ${clusterNameRule}; got "east.eu"`,
      `c.yaml:5: RouteTable default/x: metadata.clusters[2]: expected a cluster name, ${clusterNameRule}; got "${"a".repeat(64)}"`,
    ]);
    expect(errors(doc("Gateway", "east"))).toEqual([
      "c.yaml:5: Gateway default/x: metadata.clusters: expected a list of cluster names",
    ]);
  });
});
