import { describe, expect, it } from "vitest";
import { parseDocument, type Resource, refKey } from "../../src/resources/index.js";
import { planApply, settleApply } from "../../src/server/apply/diff.js";
import { ApplyRefused, applyResources } from "../../src/server/apply/index.js";
import { applyWarnings } from "../../src/server/apply/warnings.js";
import { DesiredState } from "../../src/server/desired-state.js";
import { resourceToDocument } from "../../src/server/documents.js";
import { storedDocument } from "../../src/server/relay/index.js";
import { MemoryStore, type StoredResource } from "../../src/store/index.js";
import { State, Translator, translate } from "../../src/translate/index.js";
import { destination, gateway, resources } from "../translate/fixtures.js";

const key = (kind: string, name: string, namespace = "default") => ({ kind, namespace, name });

const shop = (http: string, extra = "") => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: shop }
spec:
  hosts: [shop.example.com]${extra}
  http:
${http}
---
`;
const forward = (name: string, matcher: string, to = "web") =>
  `    - name: ${name}
      matchers: [${matcher}]
      forwardTo: { destinations: [{ destination: { name: ${to} } }] }
`;

describe("planApply and settleApply: created, configured, unchanged", () => {
  const stored: StoredResource[] = [
    {
      key: key("Destination", "a"),
      revision: 1,
      document: {
        apiVersion: "gantry/v1",
        kind: "Destination",
        metadata: { name: "a", namespace: "default" },
        spec: { ports: [{ number: 1 }], dns: "a" },
      },
    },
    {
      key: key("Destination", "b"),
      revision: 1,
      document: {
        apiVersion: "gantry/v1",
        kind: "Destination",
        metadata: { name: "b", namespace: "default" },
        spec: { ports: [{ number: 1 }] },
      },
    },
  ];

  it("compares documents as the store does (key order does not matter)", () => {
    const plan = planApply(stored, [
      {
        kind: "Destination",
        apiVersion: "gantry/v1",
        metadata: { namespace: "default", name: "a" },
        spec: { dns: "a", ports: [{ number: 1 }] },
      },
      { apiVersion: "gantry/v1", kind: "Destination", metadata: { name: "b" }, spec: { ports: [{ number: 2 }] } },
      { apiVersion: "gantry/v1", kind: "Destination", metadata: { name: "c" }, spec: {} },
    ]);
    expect(plan.map((p) => [p.key.name, p.action])).toEqual([
      ["a", "unchanged"],
      ["b", "configured"],
      ["c", "created"],
    ]);
  });

  it("follows what the write reports when another writer got there in between", () => {
    const plan = [
      { key: key("Destination", "a"), action: "unchanged" as const },
      { key: key("Destination", "b"), action: "configured" as const },
      { key: key("Destination", "c"), action: "created" as const },
    ];
    // a was changed by someone else meanwhile (so this write configured it back); b was already
    // written with this content by someone else; c is created.
    const settled = settleApply(plan, [key("Destination", "a"), key("Destination", "c")]);
    expect(settled.map((p) => [p.key.name, p.action])).toEqual([
      ["a", "configured"],
      ["b", "unchanged"],
      ["c", "created"],
    ]);
  });
});

function warningsOf(state: Resource[]): Map<string, string[]> {
  return applyWarnings(state, translate(state));
}

describe("applyWarnings", () => {
  it("names a reference to a missing resource, also in a route table no gateway uses", () => {
    const state = resources(shop(forward("home", "{ prefix: / }", "missing")));
    expect(warningsOf(state).get("RouteTable/default/shop")).toEqual([
      "spec.http[0].forwardTo.destinations[0].destination: Destination default/missing does not exist",
    ]);
  });

  it("does not repeat what the translator already says about a missing reference", () => {
    const state = resources(
      gateway() + shop(forward("home", "{ prefix: / }", "missing"), "\n  gateways: [{ name: gw }]"),
    );
    const warnings = warningsOf(state).get("RouteTable/default/shop") ?? [];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("Destination default/missing not found or invalid; the route answers 500");
  });

  it("reports a policy that selects nothing, and a policy naming a missing AuthConfig", () => {
    const state = resources(`apiVersion: gantry/v1
kind: ExtAuthPolicy
metadata: { name: login }
spec:
  applyToRoutes: [{ route: { labels: { auth: basic } } }]
  authConfig: { name: nowhere }
`);
    expect(warningsOf(state).get("ExtAuthPolicy/default/login")).toEqual([
      "spec.authConfig: AuthConfig default/nowhere not found; the ext-auth server will not know it",
      "selects no routes",
    ]);
  });

  it("reports a route an earlier route of the served table shadows", () => {
    const state = resources(
      gateway() +
        destination("web") +
        shop(
          forward("api", "{ regex: /api/.* }") +
            forward("v1", "{ prefix: /api/v1 }") +
            forward("first", "{ prefix: /x, methods: [GET, POST] }") +
            forward("second", "{ prefix: /x, methods: [GET] }") +
            forward("fine", "{ prefix: /api }"),
          "\n  gateways: [{ name: gw }]",
        ),
    );
    expect(warningsOf(state).get("RouteTable/default/shop")).toEqual([
      "route default/shop/v1 is never reached: route default/shop/api comes before it and matches every request it matches",
      "route default/shop/second is never reached: route default/shop/first comes before it and matches every request it matches",
    ]);
  });

  it("does not report prefix / written before a longer prefix: Gantry serves the longer one first", () => {
    const state = resources(
      gateway() +
        destination("web") +
        shop(forward("all", "{ prefix: / }") + forward("a", "{ prefix: /a }"), "\n  gateways: [{ name: gw }]"),
    );
    expect(warningsOf(state).get("RouteTable/default/shop")).toBeUndefined();
  });

  it("reports shadowing across delegation on both route tables", () => {
    const state = resources(
      gateway() +
        destination("web") +
        shop(
          `    - name: api
      matchers: [{ prefix: /api }]
      delegate: { routeTables: [{ ref: { name: child } }] }
`,
          "\n  gateways: [{ name: gw }]",
        ) +
        `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: child }
spec:
  http:
${forward("one", "{ prefix: /api/v1 }")}${forward("two", "{ prefix: /api/v1 }")}`,
    );
    const warnings = warningsOf(state);
    expect(warnings.get("RouteTable/default/child")).toEqual([
      "route default/shop/api > default/child/two is never reached: route default/shop/api > default/child/one comes before it and matches every request it matches",
    ]);
  });

  it("gives a rejected resource no status messages as warnings (they are its reasons)", () => {
    const state = resources(
      gateway() + destination("web") + shop(forward("bad", '{ regex: "^/a(?=b)" }'), "\n  gateways: [{ name: gw }]"),
    );
    const translation = translate(state);
    expect(translation.statuses.get("RouteTable/default/shop")?.state).toBe(State.INVALID);
    expect(applyWarnings(state, translation).get("RouteTable/default/shop")).toBeUndefined();
  });
});

describe("applyResources", () => {
  const web = resources(destination("web"));
  const table = (matcher: string) =>
    resources(gateway() + shop(forward("home", matcher), "\n  gateways: [{ name: gw }]"));

  it("dry run: reports what an apply would do and stores nothing", async () => {
    const store = new MemoryStore();
    const desired = new DesiredState(store);
    const deps = { store, desired, translator: new Translator() };
    const report = await applyResources(deps, [...web, ...table("{ prefix: / }")], true);
    expect(report.dryRun).toBe(true);
    expect(report.results.map((r) => [refKey(r.key), r.action, r.rejected])).toEqual([
      ["Destination/default/web", "created", false],
      ["Gateway/default/gw", "created", false],
      ["RouteTable/default/shop", "created", false],
    ]);
    expect(await store.list()).toEqual([]);
    expect((await store.snapshot()).revision).toBe(0);
  });

  it("stores, then says unchanged, configured, and rejected with the translator's reasons", async () => {
    const store = new MemoryStore();
    const desired = new DesiredState(store);
    const deps = { store, desired, translator: new Translator() };
    const first = await applyResources(deps, [...web, ...table("{ prefix: / }")], false);
    expect(first.results.map((r) => r.action)).toEqual(["created", "created", "created"]);
    expect(first.results.every((r) => r.status.state === State.ACCEPTED)).toBe(true);
    expect((await store.list()).length).toBe(3);

    const again = await applyResources(deps, web, false);
    expect(again.results.map((r) => r.action)).toEqual(["unchanged"]);
    expect(again.revision).toBe(first.revision);

    const bad = await applyResources(
      deps,
      table('{ regex: "^/a(?=b)" }').filter((r) => r.kind === "RouteTable"),
      false,
    );
    expect(bad.results).toHaveLength(1);
    const [result] = bad.results;
    expect(result?.action).toBe("configured");
    expect(result?.rejected).toBe(true);
    expect(result?.status.messages).toContain("rejected whole: a route table is never applied in part");
    // As the server will say: the version stored before is the one that keeps serving.
    expect(result?.status.messages).toContain("its last accepted version keeps serving");
    expect(resourceToDocument(table('{ regex: "^/a(?=b)" }')[1] as Resource)).toEqual(
      (await store.get(key("RouteTable", "shop")))?.document,
    );
  });
});

describe("applyResources: the write goes first", () => {
  const web = resources(destination("web"));
  const table = (matcher: string) =>
    resources(gateway() + shop(forward("home", matcher), "\n  gateways: [{ name: gw }]"));

  it("stores the change before the report's translation, which it does not wait for", async () => {
    const store = new MemoryStore();
    const desired = new DesiredState(store);
    const order: string[] = [];
    const translator = new Translator();
    const translating = translator.translate.bind(translator);
    translator.translate = (...args) => {
      order.push("translate");
      return translating(...args);
    };
    const deps = {
      store,
      translator,
      desired: {
        read: desired.read.bind(desired),
        apply: async (applied: readonly Resource[]) => {
          const result = await desired.apply(applied);
          order.push("stored");
          return result;
        },
      },
    };
    const report = await applyResources(deps, [...web, ...table("{ prefix: / }")], false);
    expect(order[0]).toBe("stored");
    expect(order.filter((step) => step === "translate").length).toBeGreaterThan(0);
    expect(report.results.every((r) => r.status.state === State.ACCEPTED)).toBe(true);
  });
});

describe("applyResources: a weighted split over a uint32", () => {
  it("is rejected, naming the route table, the route and the field", async () => {
    const store = new MemoryStore();
    const deps = { store, desired: new DesiredState(store), translator: new Translator() };
    const split = `    - name: split
      forwardTo:
        destinations:
          - { destination: { name: web }, weight: 3000000000 }
          - { destination: { name: api }, weight: 3000000000 }
`;
    const report = await applyResources(
      deps,
      resources(gateway() + destination("web") + destination("api") + shop(split, "\n  gateways: [{ name: gw }]")),
      false,
    );
    const rejected = report.results.filter((r) => r.rejected);
    expect(rejected.map((r) => refKey(r.key))).toEqual(["RouteTable/default/shop"]);
    expect(rejected[0]?.status.messages).toEqual([
      "spec.http[0] (split): forwardTo.destinations: the weights add up to 6000000000, above 4294967295 (2^32-1), the most Envoy and gRPC clients accept",
      "rejected whole: a route table is never applied in part",
      "not served until it is fixed (no version of it was accepted before)",
    ]);
  });
});

describe("applyResources: names an agent's Destinations hold", () => {
  const discovered = {
    apiVersion: "gantry/v1",
    kind: "Destination",
    metadata: { name: "api", namespace: "shop" },
    spec: { ports: [{ number: 80 }], endpoints: [{ address: "10.0.0.1" }] },
  };

  it("refuses, whole and naming both, an apply that would take over a cluster's discovered Destination", async () => {
    const store = new MemoryStore();
    const desired = new DesiredState(store);
    await store.apply([storedDocument("east", discovered)]);
    const deps = { store, desired, translator: new Translator() };
    const mine = resources(`apiVersion: gantry/v1
kind: Destination
metadata: { name: api.east, namespace: shop }
spec:
  ports: [{ number: 80 }]
  endpoints: [{ address: 192.0.2.1 }]
`);
    const attempt = applyResources(deps, [...resources(destination("web")), ...mine], false);
    await expect(attempt).rejects.toThrow(ApplyRefused);
    await expect(attempt).rejects.toThrow(
      "Destination/shop/api.east: the name is cluster east's Destination shop/api, stored by its agent; names ending in .east are that cluster's, so give yours another name",
    );
    expect((await store.list()).map((r) => r.key.name)).toEqual(["api.east"]);
    // The cluster's own document, as `gantry get -o yaml` prints it, may be applied back.
    const own = parseDocument(storedDocument("east", discovered), "own");
    if ("errors" in own) throw new Error(own.errors.join("\n"));
    expect((await applyResources(deps, [own], false)).results.map((r) => r.action)).toEqual(["unchanged"]);
  });
});
