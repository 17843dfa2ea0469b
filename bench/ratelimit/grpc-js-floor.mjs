// grpc-js + protobuf-es (the project's GrpcServer) answering OK per descriptor with no rate-limit logic:
// what Gantry's transport alone allows, between the raw node:http2 ceiling and the Gantry row.
//   node bench/ratelimit/grpc-js-floor.mjs <port>
import { RateLimitResponse_Code, RateLimitService } from "../../dist/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { GrpcServer } from "../../dist/lib/index.js";

const server = new GrpcServer();
server.add(RateLimitService, {
  shouldRateLimit: (request) => ({
    overallCode: RateLimitResponse_Code.OK,
    statuses: request.descriptors.map(() => ({ code: RateLimitResponse_Code.OK })),
  }),
});
await server.listen("127.0.0.1", Number(process.argv[2]));
console.log("grpc-js floor listening");
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => server.shutdown(1_000).then(() => process.exit(0)));
