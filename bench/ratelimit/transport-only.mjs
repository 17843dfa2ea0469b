// Gantry's data-plane gRPC transport (Http2GrpcServer on its own HTTP/2 layer) + protobuf-es, answering
// OK per descriptor with no rate-limit logic: what the transport alone allows. The Gantry row's
// distance to it is what deciding, counting and Redis cost.
//   node bench/ratelimit/transport-only.mjs <port>
import { RateLimitResponse_Code, RateLimitService } from "../../dist/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { Http2GrpcServer } from "../../dist/lib/index.js";

const server = new Http2GrpcServer();
server.add(RateLimitService, {
  shouldRateLimit: (request) => ({
    overallCode: RateLimitResponse_Code.OK,
    statuses: request.descriptors.map(() => ({ code: RateLimitResponse_Code.OK })),
  }),
});
await server.listen("127.0.0.1", Number(process.argv[2]));
console.log("transport only listening");
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => server.shutdown(1_000).then(() => process.exit(0)));
