// The validating admission webhook's decision, pure: an AdmissionReview in, its answer out. A Gantry
// custom resource is checked by the loader itself (src/resources), so `kubectl apply` is refused
// with exactly the messages `gantry apply --dry-run` prints for the same document, field paths
// included. What the CRD's schema already refuses never gets here; the webhook adds what a
// structural schema cannot say (one member of a oneof, metadata.clusters, recursive Envoy fields).
import { gantryKindOf, type KubeObject, parseObject } from "./objects.js";

export interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: {
    uid?: string;
    operation?: string;
    namespace?: string;
    object?: KubeObject | null;
  };
}

export interface AdmissionAnswer {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; reason: string; message: string };
  };
}

/** Refuses a review that is not one (thrown: the server answers 400). */
export class BadReview extends Error {}

export function reviewAdmission(review: AdmissionReview): AdmissionAnswer {
  const request = review.request;
  if (review.kind !== "AdmissionReview" || !request || typeof request.uid !== "string") {
    throw new BadReview("expected an admission.k8s.io/v1 AdmissionReview with request.uid");
  }
  const answer = (allowed: boolean, message?: string): AdmissionAnswer => ({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: {
      uid: request.uid as string,
      allowed,
      ...(message === undefined ? {} : { status: { code: 422, reason: "Invalid", message } }),
    },
  });
  const object = request.object;
  // Deletes carry no object; objects of other groups are not Gantry's to judge.
  if (request.operation === "DELETE" || !object || gantryKindOf(object) === undefined) return answer(true);
  const withNamespace: KubeObject = {
    ...object,
    metadata: { ...object.metadata, namespace: object.metadata?.namespace ?? request.namespace ?? "default" },
  };
  const parsed = parseObject(withNamespace);
  if ("resource" in parsed) return answer(true);
  const count = parsed.errors.length;
  return answer(false, `${count} problem(s):\n  ${parsed.errors.join("\n  ")}`);
}
