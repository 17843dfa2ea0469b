// A Gantry ext-auth server under load for bench/extauth/core.mjs, in its own process.
//   node core-target.mjs <auth-configs.json> [redis-url]
// The file holds a JSON list of AuthConfigs (proto JSON). Prints `ready <port>` once it serves;
// stops on SIGTERM.
import { readFileSync } from "node:fs";
import { fromJson } from "@bufbuild/protobuf";
import { startExtAuthServer } from "../../dist/extauth/index.js";
import { AuthConfigSchema } from "../../dist/gen/gantry/extauth/v1/auth_config_pb.js";
import { createLogger } from "../../dist/lib/index.js";

const [configsFile, redisUrl] = process.argv.slice(2);
const configs = JSON.parse(readFileSync(configsFile, "utf8")).map((json) => fromJson(AuthConfigSchema, json));
const server = await startExtAuthServer({
  host: "127.0.0.1",
  grpcPort: 0,
  metricsPort: 0,
  configs,
  ...(redisUrl ? { redisUrl } : {}),
  logger: createLogger({ service: "bench", level: "error" }),
});
process.on("SIGTERM", async () => {
  await server.stop();
  process.exit(0);
});
console.log(`ready ${server.grpcPort}`);
