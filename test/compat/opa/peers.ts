import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromBinary, type JsonValue, toJson } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  Authorization,
  type CheckRequest,
  CheckResponseSchema,
} from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient, GrpcStatus } from "../../../src/lib/index.js";
import { freePorts, isListening } from "../../support/ports.js";
import { type ManagedProcess, startProcess } from "../../support/process.js";

const gantryBin = fileURLToPath(new URL("../../../bin/gantry.js", import.meta.url));

/** A CheckResponse as proto JSON, or the gRPC error a call got. */
export type Observed = { readonly response: JsonValue } | { readonly grpcError: string };

export interface AuthzPeer {
  readonly name: string;
  check(request: CheckRequest): Promise<Observed>;
  /** A Check call whose request is these bytes, as they are (what no protobuf encoder would write). */
  checkBytes(request: Uint8Array): Promise<Observed>;
  stop(): Promise<void>;
}

/** A Check client that sends bytes as given. */
const RawCheck = grpc.makeGenericClientConstructor(
  {
    check: {
      path: "/envoy.service.auth.v3.Authorization/Check",
      requestStream: false,
      responseStream: false,
      requestSerialize: (bytes: Uint8Array) => Buffer.from(bytes),
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  },
  "RawCheck",
);

function clientFor(name: string, port: number, proc: () => ManagedProcess): AuthzPeer {
  const client = createClient(Authorization, `127.0.0.1:${port}`);
  const raw = new RawCheck(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    check(request: Uint8Array, callback: (err: grpc.ServiceError | null, response?: Buffer) => void): void;
  };
  return {
    name,
    async check(request) {
      try {
        return { response: toJson(CheckResponseSchema, await client.check(request, { timeoutMs: 10_000 })) };
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (typeof code !== "number") throw err;
        return { grpcError: GrpcStatus[code] ?? String(code) };
      }
    },
    checkBytes(request) {
      return new Promise((resolve) =>
        raw.check(request, (err, response) =>
          resolve(
            err
              ? { grpcError: GrpcStatus[err.code] ?? String(err.code) }
              : { response: toJson(CheckResponseSchema, fromBinary(CheckResponseSchema, response ?? Buffer.alloc(0))) },
          ),
        ),
      );
    },
    async stop() {
      client.close();
      raw.close();
      await proc().stop();
    },
  };
}

/** Settings of one side, as the migration guide's table pairs them. */
export interface PeerSettings {
  /** Plugin: more keys under `plugins.envoy_ext_authz_grpc` (YAML lines at that indent) and `opa run` flags. */
  readonly pluginConfig?: string[];
  readonly pluginArgs?: string[];
  /** Gantry: more keys under the step's `opaAuth` (YAML lines at that indent). */
  readonly opaAuth?: string[];
}

/** The OPA-Envoy plugin serving ext_authz with `policy` at the decision path `envoy/authz/allow`. */
export async function startPlugin(
  command: string,
  dir: string,
  policy: string,
  settings: PeerSettings = {},
): Promise<AuthzPeer> {
  const [grpcPort, httpPort] = await freePorts(2);
  writeFileSync(join(dir, "policy.rego"), policy);
  const extra = (settings.pluginConfig ?? []).map((line) => `    ${line}\n`).join("");
  writeFileSync(
    join(dir, "config.yaml"),
    `plugins:\n  envoy_ext_authz_grpc:\n    addr: 127.0.0.1:${grpcPort}\n    path: envoy/authz/allow\n${extra}decision_logs:\n  console: false\n`,
  );
  let proc: ManagedProcess | undefined;
  const peer = clientFor("opa-envoy-plugin", grpcPort, () => proc as ManagedProcess);
  proc = await startProcess({
    name: "opa-envoy-plugin",
    command,
    args: [
      "run",
      "--server",
      "--addr",
      `127.0.0.1:${httpPort}`,
      "--config-file",
      join(dir, "config.yaml"),
      ...(settings.pluginArgs ?? []),
      join(dir, "policy.rego"),
    ],
    ready: () => isListening(grpcPort),
    readyTimeoutMs: 30_000,
  });
  return peer;
}

/** `gantry extauth` with one auth config, `compat`, whose one step is the OPA evaluator on `policy`. */
export async function startGantryExtauth(
  opa: string,
  dir: string,
  policy: string,
  settings: PeerSettings = {},
): Promise<AuthzPeer> {
  const [grpcPort, metricsPort] = await freePorts(2);
  writeFileSync(join(dir, "gantry.rego"), policy);
  const extra = (settings.opaAuth ?? []).map((line) => `        ${line}\n`).join("");
  writeFileSync(
    join(dir, "auth-configs.yaml"),
    `compat:\n  configs:\n    - name: opa\n      opaAuth:\n        regoFiles: [gantry.rego]\n${extra}`,
  );
  let proc: ManagedProcess | undefined;
  const peer = clientFor("gantry extauth", grpcPort, () => proc as ManagedProcess);
  proc = await startProcess({
    name: "gantry extauth",
    command: process.execPath,
    args: [
      gantryBin,
      "extauth",
      "--host",
      "127.0.0.1",
      "--grpc-port",
      String(grpcPort),
      "--metrics-port",
      String(metricsPort),
      "--config",
      join(dir, "auth-configs.yaml"),
      "--default-config",
      "compat",
      "--log-level",
      "warn",
    ],
    env: { PATH: process.env["PATH"] ?? "", GANTRY_OPA_COMMAND: opa, GANTRY_OPA_CACHE_DIR: join(dir, "opa-cache") },
    ready: () => isListening(grpcPort),
    readyTimeoutMs: 60_000,
  });
  return peer;
}
