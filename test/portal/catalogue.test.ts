import { describe, expect, it } from "vitest";
import { buildCatalogue, canSee, parseGroups, visibleProducts } from "../../src/portal/index.js";
import { parseResources } from "../../src/resources/index.js";

const resources = parseResources(
  `apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: open, namespace: ns }
spec: { usagePlans: [{ name: free }, { name: gone }] }
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: members, namespace: ns }
spec: {}
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: partners, namespace: ns }
spec: {}
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: draft, namespace: ns }
spec: {}
---
apiVersion: gantry/v1
kind: UsagePlan
metadata: { name: free, namespace: ns }
spec: { limits: { perMinute: 5 } }
---
apiVersion: gantry/v1
kind: Portal
metadata: { name: p, namespace: ns }
spec:
  adminGroups: [admins]
  products:
    - { product: { name: open } }
    - { product: { name: members }, visibility: SIGNED_IN }
    - { product: { name: partners }, visibility: GROUPS, groups: [partners] }
`,
  "portal.yaml",
).resources;

const dev = (groups: string[]) => ({ id: "u", email: "u@x", groups });
const ids = (viewer: ReturnType<typeof dev> | undefined, statuses = new Map()) =>
  visibleProducts(buildCatalogue(resources, statuses), viewer).map((p) => p.id);

describe("who sees which product", () => {
  it("shows public products to anyone, signed-in ones to developers, group ones to members", () => {
    expect(ids(undefined)).toEqual(["ns/open"]);
    expect(ids(dev([]))).toEqual(["ns/members", "ns/open"]);
    expect(ids(dev(["partners"]))).toEqual(["ns/members", "ns/open", "ns/partners"]);
  });

  it("shows every product, unpublished ones too, to administrators", () => {
    expect(ids(dev(["admins"]))).toEqual(["ns/draft", "ns/members", "ns/open", "ns/partners"]);
  });

  it("hides an invalid product from developers", () => {
    const statuses = new Map([["ApiProduct/ns/open", { state: "INVALID", messages: ["x"] }]]);
    expect(ids(undefined, statuses)).toEqual([]);
  });

  it("offers only plans that exist", () => {
    const catalogue = buildCatalogue(resources, new Map());
    const open = catalogue.products.get("ns/open");
    expect(open?.plans).toEqual(["ns/free"]);
    expect(open && canSee(catalogue, open, undefined)).toBe(true);
  });

  it("reads the groups claim as a JSON list or a comma-separated one", () => {
    expect(parseGroups('["a","b"]')).toEqual(["a", "b"]);
    expect(parseGroups("a, b")).toEqual(["a", "b"]);
    expect(parseGroups(undefined)).toEqual([]);
  });
});
