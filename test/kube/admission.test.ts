import { describe, expect, it } from "vitest";
import { type AdmissionReview, reviewAdmission } from "../../src/kube/admission.js";
import type { KubeObject } from "../../src/kube/objects.js";
import { parseResources } from "../../src/resources/index.js";

const review = (object: unknown, operation = "CREATE"): AdmissionReview => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: { uid: "u-1", operation, namespace: "shop", object: object as KubeObject | null },
});

const badRouteTable = {
  apiVersion: "gantry.dev/v1",
  kind: "RouteTable",
  metadata: { name: "web", namespace: "shop", uid: "x", generation: 3, managedFields: [] },
  spec: { hosts: ["web.test"], http: [{ matchers: [{ exact: "/a", prefix: "/" }] }] },
};

describe("reviewAdmission", () => {
  it("refuses a bad custom resource with the loader's messages, as for the same document in a file", () => {
    const answer = reviewAdmission(review(badRouteTable));
    expect(answer.response).toMatchObject({ uid: "u-1", allowed: false, status: { code: 422, reason: "Invalid" } });
    const file = `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: web, namespace: shop }
spec: { hosts: [web.test], http: [{ matchers: [{ exact: /a, prefix: / }] }] }
`;
    const [rejected] = parseResources(file, "web.yaml").rejected;
    const fromFile = (rejected?.errors ?? []).map((e) => e.replace(/^web\.yaml:\d+: /, ""));
    expect(fromFile).toEqual([
      "RouteTable shop/web: spec.http[0].matchers[0].prefix: only one of exact and prefix may be set",
    ]);
    expect(answer.response.status?.message).toBe(`1 problem(s):\n  ${fromFile[0]}`);
  });

  it("lets valid resources, deletions and other groups' objects through", () => {
    const good = { ...badRouteTable, spec: { hosts: ["web.test"] } };
    expect(reviewAdmission(review(good)).response).toEqual({ uid: "u-1", allowed: true });
    expect(reviewAdmission(review(null, "DELETE")).response.allowed).toBe(true);
    expect(reviewAdmission(review({ apiVersion: "v1", kind: "ConfigMap" })).response.allowed).toBe(true);
  });

  it("checks the gantry.dev/clusters annotation as metadata.clusters", () => {
    const secret = {
      apiVersion: "gantry.dev/v1",
      kind: "Secret",
      metadata: { name: "s", namespace: "shop", annotations: { "gantry.dev/clusters": "east" } },
      spec: {},
    };
    const answer = reviewAdmission(review(secret));
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status?.message).toContain(
      "Secret shop/s: metadata.clusters: a Secret is not placed in clusters",
    );
  });

  it("throws on something that is not a review", () => {
    expect(() => reviewAdmission({ kind: "Pod" })).toThrow(/AdmissionReview/);
  });
});
