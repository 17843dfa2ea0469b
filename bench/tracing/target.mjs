// A server under load for bench/tracing/overhead.mjs, in its own process.
//   node target.mjs extauth|ratelimit [otlp-traces-url]   tracing off, or on at 1% sampling to that URL
// Prints `ready <port>` once it serves; stops on SIGTERM.
import { create } from "@bufbuild/protobuf";
import { startExtAuthServer } from "../../dist/extauth/index.js";
import { AuthConfigSchema } from "../../dist/gen/gantry/extauth/v1/auth_config_pb.js";
import { createLogger } from "../../dist/lib/index.js";
import { parseRateLimitYaml, startRateLimitServer } from "../../dist/ratelimit/index.js";

const [kind, endpoint] = process.argv.slice(2);
const logger = createLogger({ service: "bench", level: "error" });
const tracing = endpoint ? { tracing: { endpoint, sampleRatio: 0.01, serviceName: `bench-${kind}` } } : {};
const common = { host: "127.0.0.1", grpcPort: 0, metricsPort: 0, logger, ...tracing };

const server =
  kind === "extauth"
    ? await startExtAuthServer({
        ...common,
        configs: [
          create(AuthConfigSchema, {
            id: "bench",
            // {SHA} of "password": a cheap evaluator, so tracing's share of each call shows.
            configs: [
              {
                name: "users",
                evaluator: { case: "basicAuth", value: { users: { alice: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" } } },
              },
            ],
          }),
        ],
      })
    : await startRateLimitServer({
        ...common,
        configs: [
          parseRateLimitYaml(
            "domain: bench\ndescriptors:\n  - key: user\n    rate_limit: { unit: hour, requests_per_unit: 1000000000 }\n",
            "bench.yaml",
          ),
        ],
      });
console.log(`ready ${server.grpcPort}`);
process.on("SIGTERM", async () => {
  await server.stop();
  process.exit(0);
});
