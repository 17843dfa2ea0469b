// Helpers of the Kubernetes tests: the CRDs installed in a real API server, and gantry/v1 documents
// as the custom resources that stand for them.
import { fileURLToPath } from "node:url";
import { clustersAnnotation, kubeApiVersion } from "../../src/kube/index.js";
import type { KubeApiServer } from "../support/kube.js";

export const crdDir = fileURLToPath(new URL("../../deploy/crds", import.meta.url));

/** Applies deploy/crds/ (server-side: the big schemas do not fit the last-applied annotation) and waits until served. */
export async function installCrds(kube: KubeApiServer): Promise<void> {
  await kube.kubectlOk(["apply", "--server-side", "-f", crdDir]);
  await kube.kubectlOk(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
}

interface GantryDocument {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; clusters?: string[] };
  spec?: unknown;
}

/** The custom resource a gantry/v1 document becomes: metadata.clusters as the gantry.dev/clusters annotation. */
export function customResourceOf(document: GantryDocument): Record<string, unknown> {
  const { clusters, ...metadata } = document.metadata;
  return {
    apiVersion: kubeApiVersion,
    kind: document.kind,
    metadata: {
      ...metadata,
      namespace: metadata.namespace ?? "default",
      ...(clusters ? { annotations: { [clustersAnnotation]: clusters.join(",") } } : {}),
    },
    spec: document.spec ?? {},
  };
}
