import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { Option } from "commander";
import {
  type ClusterRegistry,
  generateRelayCa,
  issueServingCertificate,
  loadRelayCa,
  type RelayCa,
} from "../../cluster/index.js";
import { type AdmissionServer, injectCaBundle, startAdmissionServer } from "../../kube/index.js";
import { type KubeApi, KubeClient, LeaderElector, loadKubeConfig } from "../../kubernetes/index.js";
import { systemClock, type Timer } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import { Gauge, type Registry } from "../../lib/metrics.js";
import { parsePort, parsePositiveInt } from "../options.js";

// The Kubernetes flags of `gantry server`: Gantry's custom resources in the management cluster as a
// source of desired state, and the validating admission webhook (docs/kubernetes.md).

export interface KubeFlags {
  kubeconfig?: string;
  kubeInCluster?: boolean;
  kubeNamespace?: string;
  admissionPort?: number;
  admissionNames: string;
  admissionWebhookConfig?: string;
  admissionCertTtlSeconds: number;
  leaseName: string;
  leaseNamespace?: string;
  leaseDurationSeconds: number;
  serverName?: string;
  trustDomain: string;
}

/** The namespace of the pod this runs in, as its service-account volume says. */
const podNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** A renewal of the webhook's certificate that failed is tried again after this. */
const admissionRenewRetryMs = 10_000;

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
    new Option(
      "--admission-cert-ttl-seconds <n>",
      "lifetime of the webhook's serving certificate; a new one is served at two thirds of it",
    )
      .env("GANTRY_ADMISSION_CERT_TTL_SECONDS")
      .default(365 * 24 * 3600)
      .argParser(parsePositiveInt),
    new Option(
      "--lease-name <name>",
      "the coordination.k8s.io Lease the replicas elect the one that writes statuses with",
    )
      .env("GANTRY_LEASE_NAME")
      .default("gantry-server"),
    new Option(
      "--lease-namespace <namespace>",
      "the Lease's namespace (default: the pod's own with --kube-in-cluster, else default)",
    ).env("GANTRY_LEASE_NAMESPACE"),
    new Option(
      "--lease-duration-seconds <n>",
      "how long a Lease not renewed stays its holder's; the holder renews every 2/15 of it and gives up after 2/3",
    )
      .env("GANTRY_LEASE_DURATION_SECONDS")
      .default(15)
      .argParser(parsePositiveInt),
  ];
}

/**
 * Whether a flag's value was given (on the command line or by its environment variable) rather than
 * left at its default; commander's attribute name (`leaseName`).
 */
export type FlagGiven = (attribute: string) => boolean;

/**
 * The Lease flags with defaults: their value alone cannot tell that a user gave one, and one given
 * without a cluster would be silently ignored (`--lease-namespace` has no default: its value tells).
 */
const leaseFlagsWithDefaults = [
  ["leaseName", "--lease-name"],
  ["leaseDurationSeconds", "--lease-duration-seconds"],
] as const;

export function checkKubeFlags(flags: KubeFlags, given: FlagGiven): void {
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
  if (flags.leaseNamespace !== undefined && !kube) {
    throw new Error("--lease-namespace needs --kubeconfig or --kube-in-cluster");
  }
  for (const [attribute, flag] of leaseFlagsWithDefaults) {
    if (given(attribute) && !kube) throw new Error(`${flag} needs --kubeconfig or --kube-in-cluster`);
  }
  if (flags.leaseDurationSeconds < 3) {
    throw new Error(`--lease-duration-seconds: at least 3 (got ${flags.leaseDurationSeconds})`);
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
export async function kubeClientOf(flags: KubeFlags): Promise<KubeApi | undefined> {
  if (flags.kubeconfig === undefined && !flags.kubeInCluster) return undefined;
  return new KubeClient(
    await loadKubeConfig(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : { inCluster: true }),
  );
}

/** The Lease's namespace: the flag, else the pod's own namespace in a cluster, else `default`. */
function leaseNamespace(flags: KubeFlags): string {
  if (flags.leaseNamespace !== undefined) return flags.leaseNamespace;
  if (!flags.kubeInCluster) return "default";
  try {
    return readFileSync(podNamespaceFile, "utf8").trim() || "default";
  } catch {
    return "default";
  }
}

/** The election as the server uses it: the elector, and what /readyz says of it. */
export interface LeaderElection {
  readonly elector: LeaderElector;
  /** Never a reason to be unready: a follower serves xDS too. */
  detail(): string;
}

/**
 * Elects the replica that writes statuses with a Lease (every replica serves xDS). The identity is
 * the replica's name with a random suffix, so two processes on one host never both think they hold
 * it. `gantry_kube_leader` is 1 on the holder.
 */
export function startLeaderElection(
  flags: KubeFlags,
  api: KubeApi,
  registry: Registry,
  logger: Logger,
): LeaderElection {
  const durationMs = flags.leaseDurationSeconds * 1000;
  const namespace = leaseNamespace(flags);
  const elector = new LeaderElector({
    api,
    namespace,
    name: flags.leaseName,
    identity: `${flags.serverName ?? hostname()}_${randomBytes(4).toString("hex")}`,
    leaseDurationMs: durationMs,
    renewDeadlineMs: Math.floor((durationMs * 2) / 3),
    retryPeriodMs: Math.floor((durationMs * 2) / 15),
    logger,
  });
  const gauge = new Gauge({
    name: "gantry_kube_leader",
    help: "1 on the replica that holds the leader-election Lease (and writes statuses), else 0",
    labelNames: ["lease"],
    registers: [registry],
  });
  const lease = `${namespace}/${flags.leaseName}`;
  gauge.set({ lease }, 0);
  elector.onChange((leading) => gauge.set({ lease }, leading ? 1 : 0));
  elector.start();
  return {
    elector,
    detail: () =>
      elector.isLeader
        ? `leader election: leading (lease ${lease})`
        : `leader election: following ${elector.holder || "nobody yet"} (lease ${lease})`,
  };
}

/**
 * Starts the admission webhook with a certificate from Gantry's CA: the relay CA when the relay
 * serves (one CA for the server's TLS), else a CA made at start; with --admission-webhook-config,
 * puts that CA in the configuration's caBundle.
 */
export async function startAdmission(
  flags: KubeFlags & { host: string },
  api: KubeApi | undefined,
  relayRegistry: ClusterRegistry | undefined,
  logger: Logger,
): Promise<AdmissionServer | undefined> {
  if (flags.admissionPort === undefined) return undefined;
  const now = systemClock.now();
  const ca: RelayCa =
    relayRegistry?.ca ??
    (await loadRelayCa(await generateRelayCa(now, flags.trustDomain), { cert: "admission CA", key: "admission CA" }));
  const names = admissionNames(flags.admissionNames);
  const ttlMs = flags.admissionCertTtlSeconds * 1000;
  const issue = () =>
    issueServingCertificate(
      ca,
      { dns: names.filter((n) => isIP(n) === 0), ips: names.filter((n) => isIP(n) !== 0) },
      systemClock.now(),
      ttlMs,
    );
  const certificate = await issue();
  const server = await startAdmissionServer({
    host: flags.host,
    port: flags.admissionPort,
    certPem: certificate.chainPem,
    keyPem: certificate.keyPem,
    logger,
  });
  if (api && flags.admissionWebhookConfig) {
    try {
      const changed = await injectCaBundle(api, flags.admissionWebhookConfig, ca.certPem);
      logger.info({ config: flags.admissionWebhookConfig, changed }, "admission: caBundle set");
    } catch (err) {
      await server.close();
      throw new Error(`--admission-webhook-config ${flags.admissionWebhookConfig}: ${(err as Error).message}`);
    }
  }
  // A new certificate (same CA, so the caBundle stays) two thirds into the current one's life (at
  // least a second apart, should the CA's own end cut the lifetime short).
  const dueIn = (notAfterMs: number) => Math.max(1_000, ((notAfterMs - systemClock.now()) * 2) / 3);
  let timer: Timer | undefined;
  const renewIn = (ms: number) => {
    timer = systemClock
      .setTimeout(() => {
        issue().then(
          (next) => {
            server.setCertificate(next.chainPem, next.keyPem);
            logger.info({ notAfter: new Date(next.notAfterMs).toISOString() }, "admission: certificate renewed");
            renewIn(dueIn(next.notAfterMs));
          },
          (err: unknown) => {
            logger.error({ err }, "admission: cannot renew the certificate; trying again");
            renewIn(admissionRenewRetryMs);
          },
        );
      }, ms)
      .unref();
  };
  renewIn(dueIn(certificate.notAfterMs));
  return {
    port: server.port,
    setCertificate: server.setCertificate,
    close: () => {
      timer?.cancel();
      return server.close();
    },
  };
}
