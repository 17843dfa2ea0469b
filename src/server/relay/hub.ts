// The server's end of the relay: every agent stream connected to this replica, what each cluster
// is sent (its output from the last publication, as a delta against what its agent holds), and what
// each cluster sends up (discovered resources into the store, proxy status into memory).
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  type AgentMessage,
  type Discovery,
  type Hello,
  type ProxyReport,
  type ServerMessage,
  ServerMessageSchema,
} from "../../gen/gantry/relay/v1/relay_pb.js";
import type { Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import { Counter, Gauge, type Registry } from "../../lib/metrics.js";
import { parseDocument, refKey } from "../../resources/index.js";
import type { ResourceStore } from "../../store/index.js";
import type { ProxyClientView } from "../api/index.js";
import type { DesiredState } from "../desired-state.js";
import type { Publication, PublishedGroup } from "../publish.js";
import { applyDiscovery, type DiscoveredSet, DiscoveryError, discoveryHash, planDiscoveryWrite } from "./discovery.js";
import { type ClusterOutput, clusterOutput, outputMessage } from "./output.js";

/** One agent stream, as the hub sees it; the gRPC service turns it into messages on the wire. */
export interface RelaySession {
  send(message: ServerMessage): void;
  /** Ends the stream with an error the agent logs (it reconnects with back-off). */
  fail(error: Error): void;
}

/** A cluster as this replica knows it, for `describe` and metrics. */
export interface ClusterView {
  readonly name: string;
  readonly connected: boolean;
  readonly lastSeenMs: number;
  readonly agentVersion: string;
  /** The agent's discovery: its sequence and hash. */
  readonly discoveryVersion: string;
  readonly discoveryHash: string;
  readonly discovered: number;
  readonly proxies: number;
  /** The output the agent last acknowledged. */
  readonly outputVersion: string;
  /** When the agent last connected serving output it could not confirm (last-known-good), since when. */
  readonly staleSinceMs: number | undefined;
  /** The output this replica publishes for the cluster now, and since when (clock ms). */
  readonly publishedVersion: string;
  readonly publishedAtMs: number;
  /** Stored names its Destinations would take that a user's resources hold: `{ stored, discovered }` keys. */
  readonly conflicts: readonly { stored: string; discovered: string }[];
}

export interface RelayHubOptions {
  store: ResourceStore;
  desired: Pick<DesiredState, "apply">;
  logger: Logger;
  registry: Registry;
  clock: Clock;
  serverName: string;
}

interface Connected {
  readonly cluster: string;
  readonly session: RelaySession;
  readonly hello: Hello;
  /** Whether this stream has been sent an output yet. */
  confirmed: boolean;
  /** What the agent holds, as far as this stream has sent it: output version and entry versions. */
  holdsVersion: string;
  holds: Map<string, string>;
  ackedVersion: string;
  discovery: DiscoveredSet | undefined;
  discoveryVersion: bigint;
  proxies: ProxyReport | undefined;
  lastSeenMs: number;
  /** Discovery writes of this stream, one after another. */
  writes: Promise<void>;
  /** Stored keys its discovered documents would take but a user's resources hold, with the documents' keys. */
  conflicts: Map<string, string>;
}

export class RelayHub {
  readonly #options: RelayHubOptions;
  readonly #sessions = new Map<RelaySession, Connected>();
  /** Clusters that were connected to this replica, kept after they leave (last seen). */
  readonly #left = new Map<string, ClusterView>();
  #publishedAtMs = 0;
  #publication: Publication<PublishedGroup & { kind?: string }> | undefined;
  #outputs = new Map<string, ClusterOutput>();
  readonly #metrics;

  constructor(options: RelayHubOptions) {
    this.#options = options;
    const { registry } = options;
    this.#metrics = {
      agents: new Gauge({
        name: "gantry_relay_agents",
        help: "Agent streams connected to this replica",
        registers: [registry],
      }),
      outputs: new Counter({
        name: "gantry_relay_outputs_total",
        help: "Outputs sent to agents, full or delta",
        labelNames: ["cluster", "kind"],
        registers: [registry],
      }),
      bytes: new Counter({
        name: "gantry_relay_output_bytes_total",
        help: "Bytes of entries sent to agents, full or delta",
        labelNames: ["cluster", "kind"],
        registers: [registry],
      }),
      stale: new Gauge({
        name: "gantry_relay_cluster_stale_since_seconds",
        help: "Per cluster connected here: Unix time since which its agent serves output no server confirmed (0: current)",
        labelNames: ["cluster"],
        registers: [registry],
      }),
      conflicts: new Counter({
        name: "gantry_relay_discovery_conflicts_total",
        help: "Discovered documents left out because their stored name is a user's resource's",
        labelNames: ["cluster"],
        registers: [registry],
      }),
      discoveries: new Counter({
        name: "gantry_relay_discoveries_total",
        help: "Discovery messages from agents by result",
        labelNames: ["cluster", "result"],
        registers: [registry],
      }),
    };
  }

  /** A new publication: every connected cluster is sent what changed for it. */
  update(publication: Publication<PublishedGroup & { kind?: string }>): void {
    this.#publication = publication;
    this.#publishedAtMs = this.#options.clock.now();
    this.#outputs = new Map();
    for (const connected of this.#sessions.values()) this.#sendOutput(connected);
  }

  /** The first message of a stream; `cluster` is the name its credentials (or its Hello, without mTLS) give. */
  open(session: RelaySession, cluster: string, hello: Hello): void {
    for (const other of this.#sessions.values()) {
      // One agent per cluster per replica: a newer stream (an agent restarted) replaces the older.
      if (other.cluster === cluster) this.close(other.session, new Error(`cluster ${cluster} connected again`));
    }
    const connected: Connected = {
      cluster,
      session,
      hello,
      confirmed: false,
      holdsVersion: hello.outputVersion,
      holds: new Map(hello.have.map((e) => [e.key, e.version])),
      ackedVersion: hello.outputVersion,
      discovery: undefined,
      discoveryVersion: 0n,
      proxies: undefined,
      lastSeenMs: this.#options.clock.now(),
      writes: Promise.resolve(),
      conflicts: new Map(),
    };
    this.#sessions.set(session, connected);
    this.#left.delete(cluster);
    this.#metrics.agents.set(this.#sessions.size);
    this.#metrics.stale.set({ cluster }, hello.staleSince ? timestampMs(hello.staleSince) / 1000 : 0);
    this.#options.logger.info(
      {
        cluster,
        agent: hello.agentVersion,
        holds: hello.outputVersion || "nothing",
        ...(hello.staleSince ? { staleSince: new Date(timestampMs(hello.staleSince)).toISOString() } : {}),
      },
      "relay: agent connected",
    );
    this.#sendOutput(connected);
  }

  message(session: RelaySession, message: AgentMessage): void {
    const connected = this.#sessions.get(session);
    if (!connected) return;
    connected.lastSeenMs = this.#options.clock.now();
    switch (message.message.case) {
      case "discovery":
        this.#discovery(connected, message.message.value);
        break;
      case "proxies":
        connected.proxies = message.message.value;
        break;
      case "outputAck": {
        const { version, error } = message.message.value;
        if (error === "") {
          connected.ackedVersion = version;
          // The agent took this replica's output: it is current again.
          if (version === this.#outputFor(connected.cluster)?.version)
            this.#metrics.stale.set({ cluster: connected.cluster }, 0);
          break;
        }
        this.#options.logger.warn(
          { cluster: connected.cluster, version, error },
          "relay: agent refused output; sending it whole",
        );
        connected.holdsVersion = "";
        connected.holds = new Map();
        this.#sendOutput(connected);
        break;
      }
      case "hello":
        session.fail(new Error("a stream says hello once"));
        break;
      default:
        break;
    }
  }

  close(session: RelaySession, error?: Error): void {
    const connected = this.#sessions.get(session);
    if (!connected) return;
    this.#sessions.delete(session);
    this.#metrics.agents.set(this.#sessions.size);
    this.#left.set(connected.cluster, { ...this.#view(connected), connected: false });
    if (error) session.fail(error);
    this.#options.logger.info({ cluster: connected.cluster }, "relay: agent disconnected");
  }

  /** Every cluster connected to this replica now or before. */
  clusters(): ClusterView[] {
    const views = new Map(this.#left);
    for (const connected of this.#sessions.values()) views.set(connected.cluster, this.#view(connected));
    return [...views.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The proxies of the clusters connected here, served by their agent ("served by": the cluster and this replica). */
  proxies(): ProxyClientView[] {
    return [...this.#sessions.values()].flatMap((c) =>
      (c.proxies?.proxies ?? []).map((p) => ({
        nodeId: p.nodeId,
        metadata: parseMetadata(p.metadataJson),
        streams: [...p.streams],
        server: `cluster ${c.cluster} via ${this.#options.serverName}`,
        inSync: p.inSync ? 1 : 0,
        pending: p.pending,
        nacked: p.nacked,
        ...(p.lastNackError
          ? { lastNack: { error: p.lastNackError, atMs: p.lastNackAt ? timestampMs(p.lastNackAt) : 0 } }
          : {}),
      })),
    );
  }

  /** Waits for the discovery writes in flight (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((c) => c.writes));
  }

  #view(c: Connected): ClusterView {
    return {
      name: c.cluster,
      connected: true,
      lastSeenMs: c.lastSeenMs,
      agentVersion: c.hello.agentVersion,
      discoveryVersion: String(c.discoveryVersion),
      discoveryHash: c.discovery ? discoveryHash(c.discovery) : "",
      discovered: c.discovery?.size ?? 0,
      proxies: c.proxies?.proxies.length ?? 0,
      outputVersion: c.ackedVersion,
      publishedVersion: this.#outputFor(c.cluster)?.version ?? "",
      publishedAtMs: this.#publishedAtMs,
      conflicts: [...c.conflicts].map(([stored, discovered]) => ({ stored, discovered })),
      staleSinceMs:
        c.hello.staleSince && c.ackedVersion !== this.#outputFor(c.cluster)?.version
          ? timestampMs(c.hello.staleSince)
          : undefined,
    };
  }

  #outputFor(cluster: string): ClusterOutput | undefined {
    // Before the first publication nothing is sent: a restarted replica must not tell an agent that
    // its cluster's configuration is empty (the agent keeps serving what it holds).
    if (!this.#publication) return undefined;
    let output = this.#outputs.get(cluster);
    if (!output) {
      output = clusterOutput(this.#publication, cluster);
      this.#outputs.set(cluster, output);
    }
    return output;
  }

  #sendOutput(c: Connected): void {
    const output = this.#outputFor(c.cluster);
    if (!output) return;
    // The first output of a stream is sent even when the agent holds it: that tells it it is current.
    const message = outputMessage(output, c.holdsVersion, c.holds, this.#options.serverName, !c.confirmed);
    if (!message) return;
    const kind = message.full ? "full" : message.upserted.length + message.removed.length === 0 ? "unchanged" : "delta";
    this.#metrics.outputs.inc({ cluster: c.cluster, kind });
    this.#metrics.bytes.inc(
      { cluster: c.cluster, kind },
      message.upserted.reduce((sum, e) => sum + e.value.length + e.key.length, 0),
    );
    c.session.send(create(ServerMessageSchema, { message: { case: "output", value: message } }));
    c.confirmed = true;
    c.holdsVersion = output.version;
    c.holds = new Map([...output.entries].map(([key, entry]) => [key, entry.resource.version]));
  }

  #discovery(c: Connected, message: Discovery): void {
    let next: DiscoveredSet;
    try {
      next = applyDiscovery(c.discovery, message);
    } catch (err) {
      if (!(err instanceof DiscoveryError)) throw err;
      this.#metrics.discoveries.inc({ cluster: c.cluster, result: "resync" });
      this.#options.logger.warn(
        { cluster: c.cluster, err: err.message },
        "relay: discovery out of step; asking for it whole",
      );
      c.discovery = undefined;
      c.session.send(
        create(ServerMessageSchema, { message: { case: "resyncDiscovery", value: { reason: err.message } } }),
      );
      return;
    }
    const previous = c.discovery;
    c.discovery = next;
    c.discoveryVersion = message.version;
    c.writes = c.writes.then(() => this.#store(c, previous, next, message.full));
  }

  /**
   * Writes a cluster's discovered documents into the store, namespaced by cluster; removes those it
   * no longer has. A stored name that is not this cluster's own (a user's `reviews.east`) is neither
   * overwritten nor removed: the document is left out and the collision reported, naming both, until
   * one of them is renamed (it is tried again with every discovery).
   */
  async #store(c: Connected, previous: DiscoveredSet | undefined, next: DiscoveredSet, full: boolean): Promise<void> {
    const { store, desired, logger } = this.#options;
    try {
      const held = new Map((await store.list({ kind: "Destination" })).map((r) => [refKey(r.key), r.document]));
      const plan = planDiscoveryWrite({ cluster: c.cluster, held, previous, next, full, retry: c.conflicts });
      for (const [key, discovered] of plan.conflicts) {
        if (c.conflicts.has(key)) continue;
        this.#metrics.conflicts.inc({ cluster: c.cluster });
        logger.error(
          { cluster: c.cluster, stored: key, discovered },
          `relay: cluster ${c.cluster}'s ${discovered} would be stored as ${key}, which is not this cluster's (applied by a user); left out until one is renamed`,
        );
      }
      c.conflicts = plan.conflicts;
      const resources = plan.writes.map(({ document, where }) => {
        const parsed = parseDocument(document, where);
        if ("errors" in parsed) throw new DiscoveryError(parsed.errors.join("; "));
        return parsed;
      });
      if (resources.length > 0) await desired.apply(resources);
      if (plan.gone.length > 0) await store.delete(plan.gone);
      this.#metrics.discoveries.inc({ cluster: c.cluster, result: "ok" });
    } catch (err) {
      this.#metrics.discoveries.inc({ cluster: c.cluster, result: "error" });
      logger.error({ cluster: c.cluster, err }, "relay: cannot store the cluster's discovered resources; asking again");
      c.discovery = undefined;
      c.session.send(
        create(ServerMessageSchema, {
          message: { case: "resyncDiscovery", value: { reason: err instanceof Error ? err.message : String(err) } },
        }),
      );
    }
  }
}

function parseMetadata(json: string): JsonObject {
  try {
    const value: unknown = JSON.parse(json || "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? (value as JsonObject) : {};
  } catch {
    return {};
  }
}
