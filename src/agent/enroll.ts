import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, type DetailedPeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import * as x509 from "@peculiar/x509";
import {
  AgentCredentials,
  caPinOf,
  checkGrant,
  checkRelayIdentity,
  newCertificateRequest,
  parseToken,
  type RefusalReason,
  refusalReasons,
  relayChannelOptions,
  relayServerName,
  saveIdentity,
} from "../cluster/index.js";
import { RegistrationService } from "../gen/gantry/relay/v1/registration_pb.js";
import { createClient } from "../lib/grpc.js";
import { Counter, type Registry } from "../lib/metrics.js";

/*
 * The agent's registration (docs/multicluster.md, "Registration"): check that the relay holds the CA
 * the token pins, make a key pair, send the token and a certificate request over TLS that trusts
 * only that CA, and keep the certificate. An agent that enrolled before starts from its data dir and
 * needs no token.
 */

export interface EnrollOptions {
  /** The relay, HOST:PORT. */
  relay: string;
  /** The file holding the token `gantry cluster add` printed; needed only until the first enrollment. */
  tokenFile?: string;
  dataDir: string;
  cluster: string;
  agentVersion?: string;
  /** Deadline of the relay calls. Default 10 s. */
  timeoutMs?: number;
  /** Counts refusals (`gantry_agent_enroll_failures_total{reason}`). */
  metrics?: Registry;
}

/** A refused enrollment; `reason` is the server's (or, for `ca_mismatch`, the agent's) reason. */
export class EnrollError extends Error {
  constructor(
    readonly reason: RefusalReason | "unreachable" | "config",
    message: string,
  ) {
    super(message);
    this.name = "EnrollError";
  }
}

/** The credentials in the data dir, or new ones from enrolling with the token. */
export async function enroll(options: EnrollOptions): Promise<AgentCredentials> {
  const failures = options.metrics && enrollFailures(options.metrics);
  try {
    return await enrollOnce(options);
  } catch (err) {
    if (err instanceof EnrollError) failures?.inc({ reason: err.reason });
    throw err;
  }
}

function enrollFailures(registry: Registry): Counter<"reason"> {
  const existing = registry.getSingleMetric("gantry_agent_enroll_failures_total");
  if (existing) return existing as Counter<"reason">;
  return new Counter({
    name: "gantry_agent_enroll_failures_total",
    help: "Enrollments refused (by the relay, or by the agent: ca_mismatch), by reason",
    labelNames: ["reason"],
    registers: [registry],
  });
}

async function enrollOnce(options: EnrollOptions): Promise<AgentCredentials> {
  const existing = AgentCredentials.load(options.dataDir, options.cluster);
  if (existing) return existing;
  if (options.tokenFile === undefined) {
    throw new EnrollError("config", `--data-dir ${options.dataDir} holds no certificate yet: give --token-file`);
  }
  let text: string;
  try {
    text = readFileSync(options.tokenFile, "utf8");
  } catch (err) {
    throw new EnrollError("config", `--token-file ${options.tokenFile}: ${(err as Error).message}`);
  }
  let token: ReturnType<typeof parseToken>;
  try {
    token = parseToken(text, `--token-file ${options.tokenFile}`);
  } catch (err) {
    throw new EnrollError("token_malformed", (err as Error).message);
  }
  if (token.cluster !== options.cluster) {
    throw new EnrollError(
      "cluster_mismatch",
      `--token-file ${options.tokenFile}: the token registers cluster ${token.cluster}, not --cluster ${options.cluster}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const caPem = await pinnedCa(options.relay, token.caPin, timeoutMs);
  const { keys, csrPem } = await newCertificateRequest(options.cluster);
  const client = createClient(RegistrationService, options.relay, {
    credentials: grpc.credentials.createSsl(Buffer.from(caPem), null, null, {
      checkServerIdentity: checkRelayIdentity,
    }),
    channelOptions: relayChannelOptions,
  });
  try {
    const answer = await client
      .enroll(
        {
          cluster: options.cluster,
          token: `${token.id}.${token.secret}`,
          csrPem,
          agentVersion: options.agentVersion ?? "",
        },
        { timeoutMs },
      )
      .catch((err: unknown) => {
        throw refusedBy(options.relay, err);
      });
    await checkGrant(answer, {
      cluster: options.cluster,
      publicKey: keys.publicKey,
      ca: new x509.X509Certificate(caPem),
    });
    await saveIdentity(options.dataDir, answer.certificatePem, keys.privateKey, caPem);
  } finally {
    client.close();
  }
  const enrolled = AgentCredentials.load(options.dataDir, options.cluster);
  if (!enrolled) throw new EnrollError("config", `--data-dir ${options.dataDir}: the certificate was not stored`);
  return enrolled;
}

/** The server's refusal, read back from its status message (`<reason>: <why>`). */
function refusedBy(relay: string, err: unknown): EnrollError {
  const details = (err as grpc.ServiceError).details ?? String(err);
  const reason = refusalReasons.find((r) => details.startsWith(`${r}: `));
  if (reason) return new EnrollError(reason, `the relay at ${relay} refused: ${details}`);
  return new EnrollError("unreachable", `the relay at ${relay} did not enroll this agent: ${details}`);
}

/**
 * The CA in the relay's certificate chain whose key the token pins, PEM, and only if it signed the
 * relay's certificate. Read over a TLS connection that trusts nothing yet and sends nothing.
 */
export async function pinnedCa(relay: string, pin: string, timeoutMs: number): Promise<string> {
  const { host, port } = splitHostPort(relay);
  const chain = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: relayServerName,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    socket.once("secureConnect", () => {
      resolve(socket.getPeerCertificate(true));
      socket.destroy();
    });
    socket.once("error", (err) => reject(new EnrollError("unreachable", `the relay at ${relay}: ${err.message}`)));
  });
  const certificates: X509Certificate[] = [];
  const seen = new Set<string>();
  for (
    let c: DetailedPeerCertificate | undefined = chain;
    c?.raw && !seen.has(c.fingerprint256);
    c = c.issuerCertificate
  ) {
    seen.add(c.fingerprint256);
    certificates.push(new X509Certificate(c.raw));
  }
  const leaf = certificates[0];
  const pins: string[] = [];
  for (const candidate of certificates) {
    if (!candidate.ca) continue;
    const candidatePin = caPinOf(candidate.publicKey.export({ type: "spki", format: "der" }));
    pins.push(candidatePin);
    if (candidatePin === pin && leaf?.verify(candidate.publicKey)) return candidate.toString();
  }
  throw new EnrollError(
    "ca_mismatch",
    `the relay at ${relay} presents no CA with the key the token pins (sha256 ${pin}); it presents ${pins.map((p) => `sha256 ${p}`).join(", ") || "no CA certificate"}: this is not the server that made the token`,
  );
}

function splitHostPort(relay: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(relay);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65_535) throw new EnrollError("config", `--relay ${relay}: expected HOST:PORT`);
  return { host: (match[1] ?? match[2]) as string, port };
}
