import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { envoyRegistry, type XdsResource } from "../../src/envoy/index.js";
import { loadResources } from "../../src/resources/index.js";
import { State, type Translation, translate } from "../../src/translate/index.js";
import { expectGolden } from "../support/golden.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const featuresDir = join(root, "examples", "features");
const goldenDir = join(root, "test", "translate", "golden");

function renderResources(resources: readonly XdsResource[]): unknown {
  return resources.map((r) => {
    const typeName = r.typeUrl.slice(r.typeUrl.indexOf("/") + 1);
    const schema = envoyRegistry.getMessage(typeName);
    if (!schema) throw new Error(`no schema for ${typeName}`);
    return {
      type: typeName,
      name: r.name,
      value: toJson(schema, fromBinary(schema, r.value), { registry: envoyRegistry }),
    };
  });
}

/** The translation as readable JSON: per group, per type, per name, plus every status. */
function render(translation: Translation): unknown {
  return {
    groups: translation.groups.map((group) => ({
      name: group.name,
      kind: group.kind,
      proxies: group.proxies,
      resources: renderResources(group.resources),
      // Only groups with resources particular to callers in some clusters (VirtualDestinations).
      ...(group.byCallerCluster?.size
        ? {
            byCallerCluster: Object.fromEntries(
              [...group.byCallerCluster].map(([cluster, resources]) => [cluster, renderResources(resources)]),
            ),
          }
        : {}),
    })),
    statuses: Object.fromEntries(
      [...translation.statuses].map(([key, s]) => [key, { state: State[s.state], messages: s.messages }]),
    ),
    rateLimits: translation.rateLimits.map((r) => ({
      policy: r.policy,
      domain: r.domain,
      descriptors: r.descriptors.length,
    })),
    authConfigIds: translation.authConfigIds,
  };
}

const features = readdirSync(featuresDir)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("golden: examples/features → Envoy resources", () => {
  it("has a golden file for every feature, and none for a feature that is gone", () => {
    expect(features.length).toBeGreaterThanOrEqual(8);
    const goldens = readdirSync(goldenDir).filter((f) => f.endsWith(".json"));
    expect(goldens.map((f) => basename(f, ".json"))).toEqual(features.map((f) => basename(f, ".yaml")));
  });

  for (const file of features) {
    const feature = basename(file, ".yaml");
    it(feature, async () => {
      const loaded = await loadResources([join(featuresDir, file)]);
      expect(loaded.rejected).toEqual([]);
      const translation = translate(loaded.resources, {
        extAuth: { host: "127.0.0.1", port: 8083 },
        rateLimit: { host: "127.0.0.1", port: 8081 },
      });
      const actual = render(translation);
      expectGolden(join(goldenDir, `${feature}.json`), actual);
      for (const group of translation.groups) expect(group.rejected).toBeUndefined();
    });
  }

  it("translates every feature together into the same groups as one by one", async () => {
    const all = await loadResources([featuresDir]);
    expect(all.rejected).toEqual([]);
    const together = translate(all.resources);
    const names = together.groups.map((g) => g.name);
    expect(names).toEqual([...names].sort());
    // One group per Gateway of every feature (east-west.yaml has three).
    expect(names.length).toBe(all.resources.filter((r) => r.kind === "Gateway").length);
  });
});
