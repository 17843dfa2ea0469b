import { isIP } from "node:net";
import { Option } from "commander";
import {
  type ClusterRegistry,
  generateRelayCa,
  issueServingCertificate,
  loadRelayCa,
  type RelayCa,
} from "../../cluster/index.js";
import {
  type AdmissionServer,
  HttpKubeClient,
  injectCaBundle,
  type KubeClient,
  loadKubeConfig,
  startAdmissionServer,
} from "../../kube/index.js";
import { systemClock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import { parsePort } from "../options.js";

// The Kubernetes flags of `gantry server`: Gantry's custom resources in the management cluster as a
// source of desired state, and the validating admission webhook (docs/kubernetes.md).

export interface KubeFlags {
  kubeconfig?: string;
  kubeInCluster?: boolean;
  kubeNamespace?: string;
  admissionPort?: number;
  admissionNames: string;
  admissionWebhookConfig?: string;
  trustDomain: string;
}

/** The webhook's certificate lives a year; it is made again at every start. */
const admissionCertTtlMs = 365 * 24 * 3600_000;

export function kubeOptions(): Option[] {
  return [
    new Option(
      "--kubeconfig <file>",
      "watch Gantry's custom resources (gantry.dev/v1) in the cluster this kubeconfig names, and write their status",
    ).env("GANTRY_KUBECONFIG"),
    new Option("--kube-in-cluster", "the same, in the cluster this pod runs in (its service account)").env(
      "GANTRY_KUBE_IN_CLUSTER",
    ),
    new Option("--kube-namespace <namespace>", "watch this namespace only (default: every namespace)").env(
      "GANTRY_KUBE_NAMESPACE",
    ),
    new Option(
      "--admission-port <port>",
      "serve the validating admission webhook (HTTPS, POST /validate) on this port; off without it",
    )
      .env("GANTRY_ADMISSION_PORT")
      .argParser(parsePort),
    new Option(
      "--admission-names <names>",
      "comma-separated DNS names and IP addresses in the webhook's certificate (its Service's name)",
    )
      .env("GANTRY_ADMISSION_NAMES")
      .default("localhost,127.0.0.1"),
    new Option(
      "--admission-webhook-config <name>",
      "the ValidatingWebhookConfiguration whose caBundle the server keeps set to the webhook's CA",
    ).env("GANTRY_ADMISSION_WEBHOOK_CONFIG"),
  ];
}

export function checkKubeFlags(flags: KubeFlags): void {
  if (flags.kubeconfig !== undefined && flags.kubeInCluster) {
    throw new Error("--kubeconfig and --kube-in-cluster name two clusters: give one");
  }
  const kube = flags.kubeconfig !== undefined || flags.kubeInCluster === true;
  if (flags.kubeNamespace !== undefined && !kube) {
    throw new Error("--kube-namespace needs --kubeconfig or --kube-in-cluster");
  }
  if (flags.admissionWebhookConfig !== undefined && (!kube || flags.admissionPort === undefined)) {
    throw new Error("--admission-webhook-config needs --admission-port and --kubeconfig or --kube-in-cluster");
  }
  if (admissionNames(flags.admissionNames).length === 0) {
    throw new Error("--admission-names: give at least one DNS name or IP address");
  }
}

function admissionNames(text: string): string[] {
  return text
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
}

/** The API client, when a cluster is named; checked before any port opens. */
export async function kubeClientOf(flags: KubeFlags): Promise<KubeClient | undefined> {
  if (flags.kubeconfig !== undefined) {
    return new HttpKubeClient(await loadKubeConfig({ kubeconfig: flags.kubeconfig }));
  }
  if (flags.kubeInCluster) return new HttpKubeClient(await loadKubeConfig({ inCluster: true }));
  return undefined;
}

/**
 * Starts the admission webhook with a certificate from Gantry's CA: the relay CA when the relay
 * serves (one CA for the server's TLS), else a CA made at start; with --admission-webhook-config,
 * puts that CA in the configuration's caBundle.
 */
export async function startAdmission(
  flags: KubeFlags & { host: string },
  client: KubeClient | undefined,
  relayRegistry: ClusterRegistry | undefined,
  logger: Logger,
): Promise<AdmissionServer | undefined> {
  if (flags.admissionPort === undefined) return undefined;
  const now = systemClock.now();
  const ca: RelayCa =
    relayRegistry?.ca ??
    (await loadRelayCa(await generateRelayCa(now, flags.trustDomain), { cert: "admission CA", key: "admission CA" }));
  const names = admissionNames(flags.admissionNames);
  const certificate = await issueServingCertificate(
    ca,
    { dns: names.filter((n) => isIP(n) === 0), ips: names.filter((n) => isIP(n) !== 0) },
    now,
    admissionCertTtlMs,
  );
  const server = await startAdmissionServer({
    host: flags.host,
    port: flags.admissionPort,
    certPem: certificate.chainPem,
    keyPem: certificate.keyPem,
    logger,
  });
  if (client && flags.admissionWebhookConfig) {
    try {
      const changed = await injectCaBundle(client, flags.admissionWebhookConfig, ca.certPem);
      logger.info({ config: flags.admissionWebhookConfig, changed }, "admission: caBundle set");
    } catch (err) {
      await server.close();
      throw new Error(`--admission-webhook-config ${flags.admissionWebhookConfig}: ${(err as Error).message}`);
    }
  }
  return server;
}
