// A baseline for ShouldRateLimit on this machine: node:http2 + protobuf-es, decoding each request and
// answering OK per descriptor, with no config, no counting and no Redis, on one core. Gantry does not run
// on node:http2 (src/lib/h2 is its own HTTP/2 layer), so this is a reference point, not a ceiling.
//   node bench/ratelimit/node-http2-baseline.mjs <port>
import { createServer } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  RateLimitRequestSchema,
  RateLimitResponse_Code,
  RateLimitResponseSchema,
} from "../../dist/gen/envoy/service/ratelimit/v3/rls_pb.js";

const path = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";
const port = Number(process.argv[2]);

function frame(bytes) {
  const out = Buffer.allocUnsafe(5 + bytes.byteLength);
  out[0] = 0;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

const server = createServer();
server.on("stream", (stream, headers) => {
  if (headers[":path"] !== path) {
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
    return;
  }
  const chunks = [];
  // A call the load generator cancels resets its stream; without a listener that error would end the process.
  stream.on("error", () => {});
  stream.on("data", (chunk) => chunks.push(chunk));
  stream.on("end", () => {
    const body = Buffer.concat(chunks);
    const request = fromBinary(RateLimitRequestSchema, body.subarray(5));
    const response = create(RateLimitResponseSchema, {
      overallCode: RateLimitResponse_Code.OK,
      statuses: request.descriptors.map(() => ({ code: RateLimitResponse_Code.OK })),
    });
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(frame(toBinary(RateLimitResponseSchema, response)));
  });
});
server.listen(port, "127.0.0.1", () => console.log(`node:http2 baseline listening on ${port}`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
