// ADS clients that speak the protocol on the wire, as a proxy would, and decode what they receive
// into protobuf JSON. They use grpc-js and the generated Envoy types (no Gantry transport or xDS
// server code; only the generic response queue of test/xds/harness.ts), so they keep telling the
// truth while Gantry's internals are rebuilt underneath.
import {
  create,
  createRegistry,
  type DescMessage,
  fromBinary,
  type JsonObject,
  type MessageInitShape,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { type ClientDuplexStream, credentials, Client as GrpcClient } from "@grpc/grpc-js";
import { expect } from "vitest";
import { file_envoy_config_cluster_v3_cluster } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { file_envoy_config_endpoint_v3_endpoint } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { file_envoy_config_listener_v3_listener } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { file_envoy_config_route_v3_route } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { file_envoy_extensions_filters_http_cors_v3_cors } from "../../src/gen/envoy/extensions/filters/http/cors/v3/cors_pb.js";
import { file_envoy_extensions_filters_http_ext_authz_v3_ext_authz } from "../../src/gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { file_envoy_extensions_filters_http_fault_v3_fault } from "../../src/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js";
import { file_envoy_extensions_filters_http_ratelimit_v3_rate_limit } from "../../src/gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js";
import { file_envoy_extensions_filters_http_rbac_v3_rbac } from "../../src/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { file_envoy_extensions_filters_http_router_v3_router } from "../../src/gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector } from "../../src/gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy } from "../../src/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js";
import { file_envoy_extensions_transport_sockets_tls_v3_secret } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from "../../src/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import {
  type DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  DeltaDiscoveryRequestSchema as DeltaRequest,
  type DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
  DiscoveryRequestSchema as SotwRequest,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { file_gantry_extauth_v1_auth_config } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { file_ratelimit_config_ratelimit_v3_rls_conf } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { ResponseQueue } from "../xds/harness.js";

const prefix = "type.googleapis.com/";

/** The type URLs a feature test subscribes to, by their xDS service names. */
export const LDS = `${prefix}envoy.config.listener.v3.Listener`;
export const RDS = `${prefix}envoy.config.route.v3.RouteConfiguration`;
export const CDS = `${prefix}envoy.config.cluster.v3.Cluster`;
export const EDS = `${prefix}envoy.config.endpoint.v3.ClusterLoadAssignment`;
export const SDS = `${prefix}envoy.extensions.transport_sockets.tls.v3.Secret`;
export const AUTH = `${prefix}gantry.extauth.v1.AuthConfig`;
export const RLS = `${prefix}ratelimit.config.ratelimit.v3.RateLimitConfig`;

/** Every message type a response can carry, directly or inside an `Any`, for decoding to JSON. */
const registry = createRegistry(
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_extensions_transport_sockets_tls_v3_secret,
  file_envoy_extensions_transport_sockets_tls_v3_tls,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_filters_http_cors_v3_cors,
  file_envoy_extensions_filters_http_fault_v3_fault,
  file_envoy_extensions_filters_http_ext_authz_v3_ext_authz,
  file_envoy_extensions_filters_http_ratelimit_v3_rate_limit,
  file_envoy_extensions_filters_http_rbac_v3_rbac,
  file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector,
  file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_gantry_extauth_v1_auth_config,
  file_ratelimit_config_ratelimit_v3_rls_conf,
);

/** What names a resource, per type (xDS resource names are these fields). */
function nameOf(json: JsonObject): string {
  const name = json["name"] ?? json["clusterName"] ?? json["id"];
  return typeof name === "string" ? name : "";
}

function decode(any: { typeUrl: string; value: Uint8Array }): JsonObject {
  const schema: DescMessage | undefined = registry.getMessage(any.typeUrl.slice(prefix.length));
  if (!schema) throw new Error(`no schema registered for ${any.typeUrl}`);
  return toJson(schema, fromBinary(schema, any.value), { registry }) as JsonObject;
}

const byName = (a: JsonObject, b: JsonObject) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0);

/** The node a client announces: an id and metadata (Gantry selects proxies and roles by it). */
export interface NodeInfo {
  id: string;
  metadata?: JsonObject;
}

function nodeMessage(node: NodeInfo) {
  return { id: node.id, cluster: "featuretests", ...(node.metadata ? { metadata: node.metadata } : {}) };
}

const adsPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/";

function openStream<Req extends DescMessage, Res extends DescMessage>(
  client: GrpcClient,
  method: string,
  request: Req,
  response: Res,
) {
  return client.makeBidiStreamRequest(
    `${adsPath}${method}`,
    (message: MessageInitShape<Req>) => Buffer.from(toBinary(request, create(request, message))),
    (bytes: Buffer) => fromBinary(response, bytes),
  );
}

/** A connection to the management server's xDS port; each stream on it is one proxy. */
export class AdsConnection {
  readonly #client: GrpcClient;

  constructor(address: string) {
    this.#client = new GrpcClient(address, credentials.createInsecure());
  }

  sotw(node: NodeInfo): SotwAds {
    return new SotwAds(
      openStream(this.#client, "StreamAggregatedResources", SotwRequest, DiscoveryResponseSchema) as SotwCall,
      node,
    );
  }

  delta(node: NodeInfo): DeltaAds {
    return new DeltaAds(
      openStream(this.#client, "DeltaAggregatedResources", DeltaRequest, DeltaDiscoveryResponseSchema) as DeltaCall,
      node,
    );
  }

  close(): void {
    this.#client.close();
  }
}

type SotwCall = ClientDuplexStream<MessageInitShape<typeof DiscoveryRequestSchema>, DiscoveryResponse>;
type DeltaCall = ClientDuplexStream<MessageInitShape<typeof DeltaDiscoveryRequestSchema>, DeltaDiscoveryResponse>;

/** A NACK's error code (INVALID_ARGUMENT, as Envoy sends). */
const invalidArgument = 3;

/** What one SotW client holds of one type. */
interface SotwType {
  /** The names it asked for; wildcard when `wildcard`. */
  names: string[];
  wildcard: boolean;
  /** Names only the quiet-check added: they exist nowhere, so they never change a response. */
  probes: string[];
  nonce: string;
  /** The version last ACKed. */
  version: string;
  /** What it runs: the full set for LDS/CDS, the union of partial answers for the others. */
  held: Map<string, JsonObject>;
}

/**
 * A state-of-the-world ADS stream. `expect` reads the next response, compares it whole with what
 * the test says, and ACKs it; `nack` rejects it instead. Responses are compared as protobuf JSON,
 * sorted by resource name (xDS gives the order within a response no meaning).
 */
export class SotwAds {
  readonly #responses: ResponseQueue<DiscoveryResponse>;
  readonly #types = new Map<string, SotwType>();
  #nodeSent = false;
  #probes = 0;

  constructor(
    readonly call: SotwCall,
    readonly node: NodeInfo,
  ) {
    this.#responses = new ResponseQueue(call);
  }

  #type(typeUrl: string): SotwType {
    let state = this.#types.get(typeUrl);
    if (!state) {
      state = { names: [], wildcard: true, probes: [], nonce: "", version: "", held: new Map() };
      this.#types.set(typeUrl, state);
    }
    return state;
  }

  #send(typeUrl: string, extra: { errorDetail?: { code: number; message: string } } = {}): void {
    const state = this.#type(typeUrl);
    const names = [...state.names, ...state.probes];
    const resourceNames = state.wildcard && names.length > 0 ? ["*", ...names] : names;
    this.call.write({
      ...(this.#nodeSent ? {} : { node: nodeMessage(this.node) }),
      typeUrl,
      // An ACK repeats the version it applies; a NACK the version it still runs.
      versionInfo: state.version,
      responseNonce: state.nonce,
      resourceNames,
      ...(extra.errorDetail ? { errorDetail: extra.errorDetail } : {}),
    });
    this.#nodeSent = true;
  }

  /**
   * Asks for a type: every resource of it without names (wildcard), or just the names given.
   * `runningVersion` is what a reconnecting client says it runs (its first request's version).
   */
  subscribe(typeUrl: string, names?: string[], runningVersion?: string): void {
    const state = this.#type(typeUrl);
    state.wildcard = names === undefined;
    state.names = names ?? [];
    if (runningVersion !== undefined) state.version = runningVersion;
    this.#send(typeUrl);
  }

  async #next(): Promise<{ typeUrl: string; version: string; nonce: string; resources: JsonObject[] }> {
    const response = await this.#responses.next();
    return {
      typeUrl: response.typeUrl,
      version: response.versionInfo,
      nonce: response.nonce,
      resources: response.resources.map(decode).sort(byName),
    };
  }

  /** Reads the next response: it must be of `typeUrl` and hold exactly `resources`; then ACKs it. */
  async expect(typeUrl: string, resources: JsonObject[]): Promise<void> {
    const response = await this.#next();
    expect({ typeUrl: response.typeUrl, resources: response.resources }).toEqual({
      typeUrl,
      resources: [...resources].sort(byName),
    });
    const state = this.#type(typeUrl);
    state.nonce = response.nonce;
    state.version = response.version;
    if (typeUrl === LDS || typeUrl === CDS) state.held = new Map();
    for (const resource of response.resources) state.held.set(nameOf(resource), resource);
    this.#send(typeUrl);
  }

  /** Reads the next response (of `typeUrl`, holding `resources`) and rejects it with `message`. */
  async nack(typeUrl: string, resources: JsonObject[], message: string): Promise<void> {
    const response = await this.#next();
    expect({ typeUrl: response.typeUrl, resources: response.resources }).toEqual({
      typeUrl,
      resources: [...resources].sort(byName),
    });
    const state = this.#type(typeUrl);
    state.nonce = response.nonce;
    this.#send(typeUrl, { errorDetail: { code: invalidArgument, message } });
  }

  /** The version of a type last ACKed. */
  version(typeUrl: string): string {
    return this.#type(typeUrl).version;
  }

  /** The resources of a type this client runs, by name. */
  held(typeUrl: string): ReadonlyMap<string, JsonObject> {
    return this.#type(typeUrl).held;
  }

  /**
   * Asserts the server has nothing more to send: changing the LDS subscription (adding a name that
   * exists nowhere) makes the server answer LDS at once, with what this client already holds; any
   * response still queued for the stream arrives before that answer. Done twice, so that anything
   * the server sent in the same pass as the first answer has arrived before the second.
   */
  async expectQuiet(): Promise<void> {
    for (let round = 0; round < 2; round++) {
      // A client that never asked for listeners asks for the probe names alone.
      const fresh = !this.#types.has(LDS);
      const state = this.#type(LDS);
      if (fresh) state.wildcard = false;
      this.#probes += 1;
      state.probes.push(`featuretests-probe-${this.#probes}`);
      this.#send(LDS);
      await this.expect(LDS, [...state.held.values()]);
    }
  }

  close(): void {
    this.call.end();
    this.call.cancel();
  }
}

/** What one delta client holds of one type: name → version and contents. */
interface DeltaType {
  nonce: string;
  /** The `system_version_info` of the response last ACKed. */
  systemVersion: string;
  held: Map<string, { version: string; resource: JsonObject }>;
}

/** An incremental (delta) ADS stream: the same reading, with versions and `removed_resources`. */
export class DeltaAds {
  readonly #responses: ResponseQueue<DeltaDiscoveryResponse>;
  readonly #types = new Map<string, DeltaType>();
  #nodeSent = false;
  #probes = 0;

  constructor(
    readonly call: DeltaCall,
    readonly node: NodeInfo,
  ) {
    this.#responses = new ResponseQueue(call);
  }

  #type(typeUrl: string): DeltaType {
    let state = this.#types.get(typeUrl);
    if (!state) {
      state = { nonce: "", systemVersion: "", held: new Map() };
      this.#types.set(typeUrl, state);
    }
    return state;
  }

  #send(request: {
    typeUrl: string;
    resourceNamesSubscribe?: string[];
    resourceNamesUnsubscribe?: string[];
    initialResourceVersions?: Record<string, string>;
    responseNonce?: string;
    errorDetail?: { code: number; message: string };
  }): void {
    this.call.write({
      ...(this.#nodeSent ? {} : { node: nodeMessage(this.node) }),
      ...request,
    });
    this.#nodeSent = true;
  }

  /**
   * Subscribes to names of a type; none means every resource of it (wildcard). A reconnecting
   * client says what it holds in `held` (name → version), so only what differs comes again.
   */
  subscribe(typeUrl: string, names: string[] = [], held?: Record<string, string>): void {
    this.#type(typeUrl);
    this.#send({ typeUrl, resourceNamesSubscribe: names, ...(held ? { initialResourceVersions: held } : {}) });
  }

  unsubscribe(typeUrl: string, names: string[]): void {
    const state = this.#type(typeUrl);
    for (const name of names) state.held.delete(name);
    this.#send({ typeUrl, resourceNamesUnsubscribe: names });
  }

  async #read(typeUrl: string, resources: JsonObject[], removed: string[]): Promise<DeltaDiscoveryResponse> {
    const response = await this.#responses.next();
    const actual = {
      typeUrl: response.typeUrl,
      resources: response.resources.map((r) => {
        if (!r.resource) throw new Error(`${response.typeUrl} ${r.name}: a resource without contents`);
        const json = decode(r.resource);
        expect(nameOf(json), "a delta resource's name is its contents' name").toBe(r.name);
        return json;
      }),
      removed: [...response.removedResources].sort(),
    };
    actual.resources.sort(byName);
    expect(actual).toEqual({ typeUrl, resources: [...resources].sort(byName), removed: [...removed].sort() });
    this.#type(typeUrl).nonce = response.nonce;
    return response;
  }

  /** Reads the next response: exactly these updates and removals of `typeUrl`; then ACKs it. */
  async expect(typeUrl: string, resources: JsonObject[], removed: string[] = []): Promise<void> {
    const response = await this.#read(typeUrl, resources, removed);
    const state = this.#type(typeUrl);
    for (const r of response.resources) {
      if (r.resource) state.held.set(r.name, { version: r.version, resource: decode(r.resource) });
    }
    for (const name of response.removedResources) state.held.delete(name);
    state.systemVersion = response.systemVersionInfo;
    this.#send({ typeUrl, responseNonce: response.nonce });
  }

  /** Reads the next response (as `expect` would) and rejects it with `message`. */
  async nack(typeUrl: string, resources: JsonObject[], message: string, removed: string[] = []): Promise<void> {
    const response = await this.#read(typeUrl, resources, removed);
    this.#send({ typeUrl, responseNonce: response.nonce, errorDetail: { code: invalidArgument, message } });
  }

  /** The `system_version_info` of the type's response last ACKed. */
  systemVersion(typeUrl: string): string {
    return this.#type(typeUrl).systemVersion;
  }

  /** The version of each resource of a type this client holds. */
  versions(typeUrl: string): Record<string, string> {
    return Object.fromEntries([...this.#type(typeUrl).held].map(([name, held]) => [name, held.version]));
  }

  /**
   * Asserts the server has nothing more to send: subscribing to a listener that exists nowhere is
   * answered at once with its removal; anything still queued arrives before. Done twice, as in SotW.
   */
  async expectQuiet(): Promise<void> {
    for (let round = 0; round < 2; round++) {
      this.#probes += 1;
      const probe = `featuretests-probe-${this.#probes}`;
      this.#send({ typeUrl: LDS, resourceNamesSubscribe: [probe] });
      await this.expect(LDS, [], [probe]);
    }
  }

  close(): void {
    this.call.end();
    this.call.cancel();
  }
}
