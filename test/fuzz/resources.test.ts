import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { stringify } from "yaml";
import { kinds } from "../../src/resources/kinds.js";
import { parseDocument, parseResources } from "../../src/resources/load.js";
import { runs } from "./budget.js";

const file = "fuzz/resources.yaml";

/** Each rejected document's every message names the file it came from, and the loader never throws. */
function expectWellFormed(result: ReturnType<typeof parseResources>, where: string): void {
  for (const rejected of result.rejected) {
    expect(rejected.errors.length).toBeGreaterThan(0);
    for (const error of rejected.errors) expect(error).toContain(where);
  }
  for (const resource of result.resources) expect(kinds).toContain(resource.kind);
}

/** A document close enough to a resource to reach the spec's checks: a real kind and name, an arbitrary spec. */
const nearlyResource = fc.record({
  apiVersion: fc.constantFrom("gantry/v1", "gantry/v2", ""),
  kind: fc.constantFrom(...kinds, "Nonsense"),
  metadata: fc.record({ name: fc.constantFrom("a", "shop", "Bad_Name", ""), namespace: fc.constantFrom("ns", "") }),
  spec: fc.jsonValue({ maxDepth: 4 }),
});

describe("resource loader (fuzz)", () => {
  test.prop([fc.string({ maxLength: 400 })], { numRuns: runs(1000) })(
    "loads or rejects arbitrary text, naming the file in every message",
    (text) => {
      expectWellFormed(parseResources(text, file), file);
    },
  );

  test.prop([fc.array(fc.oneof(nearlyResource, fc.jsonValue({ maxDepth: 3 })), { minLength: 1, maxLength: 5 })], {
    numRuns: runs(600),
  })("loads or rejects arbitrary documents in a multi-document file, losing none", (documents) => {
    const text = documents.map((d) => stringify(d)).join("---\n");
    const result = parseResources(text, file);
    expectWellFormed(result, file);
    // Every document that is not empty is either loaded or rejected: nothing is dropped silently.
    const nonEmpty = documents.filter((d) => d !== null).length;
    expect(result.resources.length + result.rejected.length).toBeLessThanOrEqual(documents.length);
    expect(result.resources.length + result.rejected.length).toBeGreaterThanOrEqual(nonEmpty > 0 ? 1 : 0);
  });

  test.prop([nearlyResource], { numRuns: runs(1000) })(
    "parses an API document to a resource or a rejection naming the document",
    (document) => {
      const outcome = parseDocument(document, "document 1");
      if ("errors" in outcome) for (const error of outcome.errors) expect(error).toContain("document 1");
      else expect(kinds).toContain(outcome.kind);
    },
  );
});
