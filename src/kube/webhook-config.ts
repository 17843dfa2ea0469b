import type { KubeApi } from "../kubernetes/index.js";

interface WebhookConfiguration {
  metadata?: { resourceVersion?: string };
  webhooks?: Array<{ name?: string; clientConfig?: { caBundle?: string } }>;
}

/**
 * Puts the CA that signed the webhook's certificate into every webhook of a
 * ValidatingWebhookConfiguration, so the API server trusts the server's admission port (the CA may
 * be made at start). Nothing is written when it is there already; the write is conditional on the
 * version read, so a concurrent edit is not lost (it fails, and the caller says so).
 */
export async function injectCaBundle(api: KubeApi, name: string, caPem: string): Promise<boolean> {
  const path = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${name}`;
  const config = await api.request<WebhookConfiguration>("GET", path);
  const caBundle = Buffer.from(caPem).toString("base64");
  const webhooks = config.webhooks ?? [];
  if (webhooks.length === 0) throw new Error(`ValidatingWebhookConfiguration ${name} has no webhooks`);
  if (webhooks.every((w) => w.clientConfig?.caBundle === caBundle)) return false;
  await api.request("PATCH", path, {
    body: {
      metadata: { resourceVersion: config.metadata?.resourceVersion },
      webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } })),
    },
    contentType: "application/merge-patch+json",
  });
  return true;
}
