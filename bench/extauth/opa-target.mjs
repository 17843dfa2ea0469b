// A server under load for bench/extauth/opa.mjs, in its own process so it has a core to itself.
//   node opa-target.mjs node-http2       raw node:http2 + protobuf-es: decode the Check, answer OK
//   node opa-target.mjs gantry <bundle>  the Gantry ext-auth server with an opaAuth config
// Prints `ready <port>` once it serves; stops on SIGTERM.
import { createServer } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { startExtAuthServer } from "../../dist/extauth/index.js";
import { CheckRequestSchema, CheckResponseSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import { AuthConfigSchema } from "../../dist/gen/gantry/extauth/v1/auth_config_pb.js";
import { createLogger } from "../../dist/lib/index.js";

const [kind, bundle] = process.argv.slice(2);

function frame(bytes) {
  const framed = Buffer.alloc(5 + bytes.length);
  framed.writeUInt32BE(bytes.length, 1);
  framed.set(bytes, 5);
  return framed;
}

async function startNodeHttp2Baseline() {
  const ok = frame(toBinary(CheckResponseSchema, create(CheckResponseSchema, { status: { code: 0 } })));
  const server = createServer();
  server.on("stream", (stream) => {
    const chunks = [];
    // A call the load generator cancels resets its stream; without a listener that error would end the process.
    stream.on("error", () => {});
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      fromBinary(CheckRequestSchema, body.subarray(5));
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(ok);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: server.address().port, stop: () => new Promise((resolve) => server.close(resolve)) };
}

async function startGantry() {
  const config = create(AuthConfigSchema, {
    id: "rbac",
    configs: [{ name: "rbac", evaluator: { case: "opaAuth", value: { wasmBundle: bundle } } }],
  });
  const server = await startExtAuthServer({
    host: "127.0.0.1",
    grpcPort: 0,
    metricsPort: 0,
    configs: [config],
    logger: createLogger({ service: "bench", level: "error" }),
  });
  return { port: server.grpcPort, stop: () => server.stop() };
}

const target = kind === "node-http2" ? await startNodeHttp2Baseline() : await startGantry();
process.on("SIGTERM", async () => {
  await target.stop();
  process.exit(0);
});
console.log(`ready ${target.port}`);
