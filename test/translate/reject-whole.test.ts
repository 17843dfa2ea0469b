import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { State, type Translation, Translator } from "../../src/translate/index.js";
import { destination, gateway, resources } from "./fixtures.js";

const table = (special: string) => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: shop }
spec:
  hosts: [shop.example.com]
  gateways: [{ name: gw }]
  http:
    - { name: special, matchers: [{ regex: "${special}" }], forwardTo: { destinations: [{ destination: { name: special } }] } }
    - { name: api, matchers: [{ prefix: /api }], forwardTo: { destinations: [{ destination: { name: general } }] } }
---
`;

const world = (special: string) =>
  resources(`${gateway()}${destination("special", "10.0.0.1")}${destination("general", "10.0.0.2")}${table(special)}`);

/** Each served route of the gateway: its path match and the cluster it forwards to. */
function served(translation: Translation): string[] {
  const routes = translation.groups[0]?.resources.filter((r) => r.typeUrl === TypeUrl.route) ?? [];
  return routes.flatMap((r) =>
    fromBinary(RouteConfigurationSchema, r.value).virtualHosts.flatMap((vhost) =>
      vhost.routes.map((route) => {
        const match = route.match?.pathSpecifier;
        const to = route.action.case === "route" ? route.action.value.clusterSpecifier : undefined;
        const cluster = to?.case === "cluster" ? to.value : to?.case === "weightedClusters" ? "split" : "?";
        return `${match?.case === "safeRegex" ? match.value.regex : String(match?.value)} -> ${cluster}`;
      }),
    ),
  );
}

const statusOf = (translation: Translation) => {
  const status = translation.statuses.get("RouteTable/default/shop");
  return status && { state: State[status.state], messages: status.messages };
};

describe("a route table is served whole or not at all", () => {
  it("keeps serving its last accepted version when an update has a route clients would refuse", () => {
    const translator = new Translator();
    const good = translator.translate(world("/api/special/[0-9]+"));
    expect(statusOf(good)?.state).toBe("ACCEPTED");
    const before = served(good);
    expect(before).toEqual(["/api/special/[0-9]+ -> default/special:80", "/api -> default/general:80"]);

    // A lookahead: RE2 refuses it. Dropping only this route would send /api/special/1 to `general`.
    const bad = translator.translate(world("/api/special/(?=[0-9])"));
    expect(served(bad)).toEqual(before);
    expect(statusOf(bad)).toEqual({
      state: "INVALID",
      messages: [
        expect.stringContaining("spec.http[0] (special): matchers[0].regex: invalid regex: error parsing regexp"),
        "rejected whole: a route table is never applied in part",
        "its last accepted version keeps serving",
      ],
    });

    // Fixed: the new version is served, and becomes the last accepted one.
    const fixed = translator.translate(world("/api/special/[a-z]+"));
    expect(statusOf(fixed)?.state).toBe("ACCEPTED");
    expect(served(fixed)[0]).toBe("/api/special/[a-z]+ -> default/special:80");
  });

  it("is not served at all when no version of it was accepted before", () => {
    const translation = new Translator().translate(world("/api/special/(?=[0-9])"));
    expect(served(translation)).toEqual([]);
    expect(statusOf(translation)?.messages.at(-1)).toBe(
      "not served until it is fixed (no version of it was accepted before)",
    );
  });
});

/** `shop` split between `special` and `general`, with these weights (absent when undefined). */
const split = (special?: number, general?: number) => {
  const weight = (w?: number) => (w === undefined ? "" : `, weight: ${w}`);
  return `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: shop }
spec:
  hosts: [shop.example.com]
  gateways: [{ name: gw }]
  http:
    - name: split
      forwardTo:
        destinations:
          - { destination: { name: special }${weight(special)} }
          - { destination: { name: general }${weight(general)} }
---
`;
};

const splitWorld = (special?: number, general?: number) =>
  resources(
    `${gateway()}${destination("special", "10.0.0.1")}${destination("general", "10.0.0.2")}${split(special, general)}`,
  );

/** The weighted clusters of the gateway's one route, by cluster name. */
function weights(translation: Translation): Record<string, number | undefined> {
  const routes = translation.groups[0]?.resources.filter((r) => r.typeUrl === TypeUrl.route) ?? [];
  const out: Record<string, number | undefined> = {};
  for (const r of routes) {
    for (const route of fromBinary(RouteConfigurationSchema, r.value).virtualHosts.flatMap((v) => v.routes)) {
      const to = route.action.case === "route" ? route.action.value.clusterSpecifier : undefined;
      if (to?.case === "weightedClusters") for (const c of to.value.clusters) out[c.name] = c.weight;
    }
  }
  return out;
}

const overflow = (sum: number) =>
  `spec.http[0] (split): forwardTo.destinations: the weights add up to ${sum}, above 4294967295 (2^32-1), the most Envoy and gRPC clients accept`;

describe("a weighted split is refused whole when its weights add up to more than a uint32", () => {
  it("serves a sum of exactly 2^32-1, and keeps it when an update goes one above (an absent weight counts 1)", () => {
    const translator = new Translator();
    const most = translator.translate(splitWorld(4294967294));
    expect(statusOf(most)?.state).toBe("ACCEPTED");
    expect(weights(most)).toEqual({ "default/special:80": 4294967294, "default/general:80": 1 });

    const over = translator.translate(splitWorld(4294967295));
    expect(statusOf(over)).toEqual({
      state: "INVALID",
      messages: [
        overflow(4294967296),
        "rejected whole: a route table is never applied in part",
        "its last accepted version keeps serving",
      ],
    });
    expect(weights(over)).toEqual(weights(most));
  });

  it("is not served at all when no version of it was accepted before", () => {
    const translation = new Translator().translate(splitWorld(3_000_000_000, 3_000_000_000));
    expect(served(translation)).toEqual([]);
    expect(statusOf(translation)?.messages[0]).toBe(overflow(6_000_000_000));
  });
});
