import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import {
  type AgentCredentials,
  ClusterRegistry,
  type ClusterStore,
  MemoryClusterStore,
  RelayAuth,
  relayChannelOptions,
} from "../../src/cluster/index.js";
import { RegistrationService } from "../../src/gen/gantry/relay/v1/registration_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.js";
import { createClient, GrpcServer, type ServiceClient } from "../../src/lib/grpc.js";
import { Registry } from "../../src/lib/metrics.js";

// A relay port as the server runs one, on loopback: the RegistrationService, and a stand-in for the
// relay stream (gRPC health's Watch) that checks its caller the way the relay does. Each Watch call
// answers once per `push()`, so a test can tell that an open stream still works.

export interface TestRelay {
  readonly address: string;
  readonly registry: ClusterRegistry;
  readonly auth: RelayAuth;
  readonly metrics: Registry;
  /** The clock the registry reads; move it with `advance`. */
  advance(ms: number): void;
  /** The peer serials seen by Watch/Check calls, in order. */
  readonly peers: string[];
  /** Sends one more message on every open Watch stream. */
  push(): void;
  dir(): string;
  tokenFile(token: string): string;
  close(): Promise<void>;
}

export async function startTestRelay(
  options: { store?: ClusterStore; certificateTtlMs?: number } = {},
): Promise<TestRelay> {
  let offset = 0;
  const clock = { now: () => Date.now() + offset };
  const registry = await ClusterRegistry.open({
    store: options.store ?? new MemoryClusterStore(),
    clock,
    ...(options.certificateTtlMs ? { certificateTtlMs: options.certificateTtlMs } : {}),
  });
  const metrics = new Registry();
  const auth = new RelayAuth({ registry, metrics });
  await auth.start();
  const peers: string[] = [];
  const streams = new Set<() => void>();
  const server = new GrpcServer({ credentials: auth.serverCredentials() });
  server.add(RegistrationService, auth.registrationService());
  server.add(Health, {
    check: async (request, call) => {
      const peer = await auth.verifyPeer(call, request.service || undefined);
      peers.push(peer.serial);
      return { status: HealthCheckResponse_ServingStatus.SERVING };
    },
    watch: async (request, call) => {
      const peer = await auth.verifyPeer(call, request.service || undefined);
      peers.push(peer.serial);
      const send = () => call.write({ status: HealthCheckResponse_ServingStatus.SERVING });
      streams.add(send);
      send();
      await new Promise<void>((resolve) => call.on("cancelled", resolve));
      streams.delete(send);
    },
  });
  const port = await server.listen("127.0.0.1", 0);
  const dirs: string[] = [];
  return {
    address: `127.0.0.1:${port}`,
    registry,
    auth,
    metrics,
    advance: (ms) => {
      offset += ms;
    },
    peers,
    push: () => {
      for (const send of streams) send();
    },
    dir: () => {
      const dir = mkdtempSync(join(tmpdir(), "gantry-agent-"));
      dirs.push(dir);
      return dir;
    },
    tokenFile: (token) => {
      const file = join(mkdtempSync(join(tmpdir(), "gantry-token-")), "token");
      writeFileSync(file, `${token}\n`);
      return file;
    },
    close: async () => {
      auth.stop();
      await server.shutdown(0);
      await registry.close();
    },
  };
}

/** A health client dialling the relay with the agent's credentials (or server-authenticated TLS only). */
export function relayClient(
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = {},
): ServiceClient<(typeof Health)["method"]> {
  return createClient(Health, address, { credentials, channelOptions: { ...relayChannelOptions, ...options } });
}

/** A client on the agent's credentials; `fresh` makes its own connection (grpc-js shares them between clients otherwise). */
export function agentClient(
  address: string,
  agent: AgentCredentials,
  fresh = false,
): ServiceClient<(typeof Health)["method"]> {
  return relayClient(address, agent.channelCredentials(), fresh ? { "grpc.use_local_subchannel_pool": 1 } : {});
}

/** The failures counted for `reason`. */
export async function failures(metrics: Registry, reason: string): Promise<number> {
  const metric = await metrics.getSingleMetric("gantry_relay_auth_failures_total")?.get();
  return metric?.values.find((v) => v.labels["reason"] === reason)?.value ?? 0;
}
