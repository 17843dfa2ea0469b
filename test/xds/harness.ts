import { type DescMessage, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { rawResource, resourceNameOf, typeUrlOf, type XdsResource } from "../../src/envoy/index.js";
import { type Cluster, ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import type {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponse,
  DiscoveryRequestSchema,
  DiscoveryResponse,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createClient, type ServiceClient } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry, type Registry } from "../../src/lib/metrics.js";
import { type Request, SnapshotCache, type StreamInfo, startXdsServer, type XdsServer } from "../../src/xds/index.js";

export const logger = createLogger({ service: "xds-test", level: "silent" });

/** A type nothing else uses: subscribing to a new name of it gets an answer, which orders the stream. */
export const probeType = "type.googleapis.com/gantry.test.Probe";
export const probe = (name: string): XdsResource => rawResource(probeType, name, new TextEncoder().encode(name));

/** Reads responses off one raw stream, in order, with bounded waits. */
export class ResponseQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(item: T) => void> = [];
  error: Error | undefined;
  ended = false;

  constructor(stream: NodeJS.EventEmitter) {
    stream.on("data", (item: T) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(item);
      else this.#items.push(item);
    });
    stream.on("error", (err: Error) => {
      this.error = err;
    });
    stream.on("end", () => {
      this.ended = true;
    });
  }

  get buffered(): number {
    return this.#items.length;
  }

  next(timeoutMs = 5_000): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(
          new Error(`no response within ${timeoutMs} ms${this.error ? ` (stream error: ${this.error.message})` : ""}`),
        );
      }, timeoutMs);
      const waiter = (value: T) => {
        clearTimeout(timer);
        resolve(value);
      };
      this.#waiters.push(waiter);
    });
  }
}

export interface TestServer {
  readonly cache: SnapshotCache;
  readonly clock: ManualClock;
  readonly registry: Registry;
  readonly server: XdsServer;
  readonly address: string;
  /** Every request the server read, as its `onRequest` hook saw it, with the node id. */
  readonly requests: Array<Request & { node: string }>;
  readonly client: ServiceClient<(typeof AggregatedDiscoveryService)["method"]>;
  stop(): Promise<void>;
}

export async function startTestServer(): Promise<TestServer> {
  const clock = new ManualClock();
  const cache = new SnapshotCache({ clock });
  const registry = createRegistry("xds-test", { processMetrics: false });
  const requests: Array<Request & { node: string }> = [];
  const hooks = {
    onRequest: (stream: StreamInfo, request: Request) => void requests.push({ ...request, node: stream.node.id }),
  };
  const server = await startXdsServer({ cache, host: "127.0.0.1", port: 0, logger, registry, clock, hooks });
  const address = `127.0.0.1:${server.port}`;
  const client = createClient(AggregatedDiscoveryService, address);
  return {
    cache,
    clock,
    registry,
    server,
    address,
    requests,
    client,
    async stop() {
      client.close();
      await server.stop(500);
    },
  };
}

type SotwCall = ClientDuplexStream<MessageInitShape<typeof DiscoveryRequestSchema>, DiscoveryResponse>;
type DeltaCall = ClientDuplexStream<MessageInitShape<typeof DeltaDiscoveryRequestSchema>, DeltaDiscoveryResponse>;

interface SotwRequest {
  typeUrl?: string;
  versionInfo?: string;
  resourceNames?: string[];
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
}

interface DeltaRequest {
  typeUrl?: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
}

/** A raw SotW ADS stream with the probe that proves nothing else was sent. */
export class SotwClient {
  readonly responses: ResponseQueue<DiscoveryResponse>;
  #probed = false;
  #probeNonce = "";

  constructor(
    readonly call: SotwCall,
    readonly nodeId: string,
  ) {
    this.responses = new ResponseQueue(call);
  }

  static open(server: TestServer, nodeId: string): SotwClient {
    return new SotwClient(server.client.streamAggregatedResources() as SotwCall, nodeId);
  }

  #first = true;

  send(request: SotwRequest): void {
    const withNode = this.#first
      ? { ...request, node: { id: this.nodeId, cluster: "test", metadata: { team: "edge" } } }
      : request;
    this.#first = false;
    this.call.write(withNode);
  }

  next(timeoutMs?: number): Promise<DiscoveryResponse> {
    return this.responses.next(timeoutMs);
  }

  ack(response: DiscoveryResponse, resourceNames: string[] = []): void {
    this.send({
      typeUrl: response.typeUrl,
      versionInfo: response.versionInfo,
      responseNonce: response.nonce,
      resourceNames,
    });
  }

  nack(response: DiscoveryResponse, appliedVersion: string, message: string, resourceNames: string[] = []): void {
    this.send({
      typeUrl: response.typeUrl,
      versionInfo: appliedVersion,
      responseNonce: response.nonce,
      resourceNames,
      errorDetail: { code: 3, message },
    });
  }

  /**
   * Asserts the server has nothing queued for this stream: subscribes the probe type to probe "p"
   * (which the snapshot must hold), first unsubscribing it if it was probed before, so that the
   * server must send it again, and expects the probe answer to be the next response.
   */
  async expectQuiet(): Promise<void> {
    if (this.#probed) this.send({ typeUrl: probeType, resourceNames: [], responseNonce: this.#probeNonce });
    this.#probed = true;
    this.send({ typeUrl: probeType, resourceNames: ["p"], responseNonce: this.#probeNonce });
    const response = await this.next();
    if (response.typeUrl !== probeType) {
      throw new Error(`expected no response before the probe, got ${response.typeUrl} version ${response.versionInfo}`);
    }
    this.#probeNonce = response.nonce;
  }

  close(): void {
    this.call.end();
  }
}

/** A raw delta ADS stream with the same probe. */
export class DeltaClient {
  readonly responses: ResponseQueue<DeltaDiscoveryResponse>;
  #probes = 0;
  #first = true;

  constructor(
    readonly call: DeltaCall,
    readonly nodeId: string,
  ) {
    this.responses = new ResponseQueue(call);
  }

  static open(server: TestServer, nodeId: string): DeltaClient {
    return new DeltaClient(server.client.deltaAggregatedResources() as DeltaCall, nodeId);
  }

  send(request: DeltaRequest): void {
    const withNode = this.#first ? { ...request, node: { id: this.nodeId } } : request;
    this.#first = false;
    this.call.write(withNode);
  }

  next(timeoutMs?: number): Promise<DeltaDiscoveryResponse> {
    return this.responses.next(timeoutMs);
  }

  ack(response: DeltaDiscoveryResponse): void {
    this.send({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }

  async expectQuiet(): Promise<void> {
    this.#probes += 1;
    this.send({ typeUrl: probeType, resourceNamesSubscribe: [`quiet-${this.#probes}`] });
    const response = await this.next();
    if (response.typeUrl !== probeType) {
      throw new Error(`expected no response before the probe, got ${response.typeUrl} ${response.systemVersionInfo}`);
    }
    this.ack(response);
  }

  close(): void {
    this.call.end();
  }
}

const schemas = new Map<string, DescMessage>(
  [ClusterSchema, ClusterLoadAssignmentSchema, ListenerSchema, RouteConfigurationSchema].map((schema) => [
    typeUrlOf(schema.typeName),
    schema,
  ]),
);

/** The names of the resources in a SotW response, sorted. */
export function namesIn(response: DiscoveryResponse): string[] {
  return response.resources
    .map((any) => {
      const schema = schemas.get(any.typeUrl);
      return schema ? resourceNameOf(schema, fromBinary(schema, any.value)) : new TextDecoder().decode(any.value);
    })
    .sort();
}

/** Decodes the first resource of a response as a cluster (for checking contents). */
export function clusterIn(response: DiscoveryResponse, index = 0): Cluster {
  const any = response.resources[index];
  if (!any) throw new Error(`response has no resource ${index}`);
  return fromBinary(ClusterSchema, any.value);
}
