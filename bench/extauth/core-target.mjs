// A server under load for bench/extauth/core.mjs, in its own process.
//   node core-target.mjs <auth-configs.json> [redis-url]   the Gantry ext-auth server with these AuthConfigs (proto JSON list)
//   node core-target.mjs grpc-js-baseline                    a grpc-js server (GrpcServer in src/lib/grpc.ts) answering OK
//                                                            without looking: a reference point, not Gantry's transport
// Prints `ready <port>` once it serves; stops on SIGTERM.
import { readFileSync } from "node:fs";
import { create, fromJson } from "@bufbuild/protobuf";
import { startExtAuthServer } from "../../dist/extauth/index.js";
import { Authorization, CheckResponseSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import { AuthConfigSchema } from "../../dist/gen/gantry/extauth/v1/auth_config_pb.js";
import { createLogger, GrpcServer } from "../../dist/lib/index.js";

const [mode, redisUrl] = process.argv.slice(2);
const logger = createLogger({ service: "bench", level: "error" });

async function startGrpcJsBaseline() {
  const ok = create(CheckResponseSchema, { status: { code: 0 }, httpResponse: { case: "okResponse", value: {} } });
  const server = new GrpcServer({ logger }).add(Authorization, { check: () => ok });
  const port = await server.listen("127.0.0.1", 0);
  return { port, stop: () => server.shutdown(1_000) };
}

async function startGantry() {
  const configs = JSON.parse(readFileSync(mode, "utf8")).map((json) => fromJson(AuthConfigSchema, json));
  const server = await startExtAuthServer({
    host: "127.0.0.1",
    grpcPort: 0,
    metricsPort: 0,
    configs,
    ...(redisUrl ? { redisUrl } : {}),
    logger,
  });
  return { port: server.grpcPort, stop: () => server.stop() };
}

const target = mode === "grpc-js-baseline" ? await startGrpcJsBaseline() : await startGantry();
process.on("SIGTERM", async () => {
  await target.stop();
  process.exit(0);
});
console.log(`ready ${target.port}`);
