import { describe, expect, it } from "vitest";
import { ResourceHistory, versionsPerResource } from "../../src/server/history.js";
import type { ResourceDocument, StoreSnapshot } from "../../src/store/index.js";

const key = { kind: "Destination", namespace: "shop", name: "web" };
const doc = (port: number) =>
  ({
    apiVersion: "gantry/v1",
    kind: "Destination",
    metadata: { name: "web", namespace: "shop" },
    spec: { port },
  }) as unknown as ResourceDocument;
const snapshot = (revision: number, ...resources: Array<[number, number]>): StoreSnapshot => ({
  revision,
  resources: resources.map(([at, port]) => ({ key, document: doc(port), revision: at })),
});

describe("ResourceHistory", () => {
  it("keeps each new version once, then the deletion", () => {
    const history = new ResourceHistory();
    history.record(snapshot(1, [1, 80]), 10);
    history.record(snapshot(2, [1, 80]), 20); // another resource changed: nothing new here
    history.record(snapshot(3, [3, 81]), 30);
    history.record(snapshot(4), 40);
    expect(history.versions(key).map((v) => [v.revision, v.seenAt, v.document === undefined])).toEqual([
      [1, 10, false],
      [3, 30, false],
      [4, 40, true],
    ]);
  });

  it("keeps the last versions only", () => {
    const history = new ResourceHistory();
    for (let i = 1; i <= versionsPerResource + 5; i++) history.record(snapshot(i, [i, 8000 + i]), i);
    const versions = history.versions(key);
    expect(versions).toHaveLength(versionsPerResource);
    expect(versions[0]?.revision).toBe(6);
  });
});
