// Light simulated ADS clients: raw node:http2 streams speaking gRPC framing, no grpc-js. Each
// stream subscribes like Envoy (CDS and LDS wildcard, EDS and RDS by name) and ACKs every response.
// Driven over IPC by scale.mjs.
import { connect } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TypeUrl } from "../../dist/envoy/index.js";
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "../../dist/gen/envoy/service/discovery/v3/discovery_pb.js";

const service = "/envoy.service.discovery.v3.AggregatedDiscoveryService";

function frame(schema, message) {
  const body = toBinary(schema, create(schema, message));
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = 0;
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

/** Splits a gRPC byte stream into messages; counts their bytes (5-byte prefix included). */
function reader(onMessage) {
  let buffered = Buffer.alloc(0);
  return (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 5) {
      const length = buffered.readUInt32BE(1);
      if (buffered.length < 5 + length) break;
      onMessage(buffered.subarray(5, 5 + length), 5 + length);
      buffered = buffered.subarray(5 + length);
    }
  };
}

const sessions = [];
const counters = { sotwBytes: 0, deltaBytes: 0, responses: 0 };

function session(port) {
  const s = connect(`http://127.0.0.1:${port}`);
  s.on("error", () => undefined);
  sessions.push(s);
  return s;
}

function open(s, method) {
  const stream = s.request({
    ":method": "POST",
    ":path": `${service}/${method}`,
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => undefined);
  return stream;
}

function sotwStream(s, node, names) {
  const stream = open(s, "StreamAggregatedResources");
  const subscriptions = new Map([
    [TypeUrl.cluster, []],
    [TypeUrl.endpoint, names.endpoints],
  ]);
  if (names.routes.length > 0) {
    subscriptions.set(TypeUrl.listener, []);
    subscriptions.set(TypeUrl.route, names.routes);
  }
  let first = true;
  const send = (request) => {
    stream.write(frame(DiscoveryRequestSchema, first ? { ...request, node } : request));
    first = false;
  };
  stream.on(
    "data",
    reader((bytes, size) => {
      counters.sotwBytes += size;
      counters.responses += 1;
      const response = fromBinary(DiscoveryResponseSchema, bytes);
      send({
        typeUrl: response.typeUrl,
        versionInfo: response.versionInfo,
        responseNonce: response.nonce,
        resourceNames: subscriptions.get(response.typeUrl) ?? [],
      });
    }),
  );
  for (const [typeUrl, resourceNames] of subscriptions) send({ typeUrl, resourceNames });
}

function deltaStream(s, node, endpointNames) {
  const stream = open(s, "DeltaAggregatedResources");
  let first = true;
  const send = (request) => {
    stream.write(frame(DeltaDiscoveryRequestSchema, first ? { ...request, node } : request));
    first = false;
  };
  stream.on(
    "data",
    reader((bytes, size) => {
      counters.deltaBytes += size;
      counters.responses += 1;
      const response = fromBinary(DeltaDiscoveryResponseSchema, bytes);
      send({ typeUrl: response.typeUrl, responseNonce: response.nonce });
    }),
  );
  send({ typeUrl: TypeUrl.cluster });
  send({ typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: endpointNames });
}

process.on("message", (message) => {
  switch (message.op) {
    case "fleet": {
      // Streams spread over connections as a fleet of proxies would be (one connection each would
      // cost the client process more than the server); the server sees one stream per proxy.
      const perSession = message.streamsPerConnection;
      let s;
      for (let i = 0; i < message.streams; i++) {
        if (i % perSession === 0) s = session(message.port);
        sotwStream(
          s,
          { id: `envoy-${message.offset + i}`, cluster: "envoy" },
          { endpoints: message.fleet, routes: ["routes"] },
        );
      }
      process.send({ op: "fleet-opened" });
      break;
    }
    case "bytes": {
      const s = session(message.port);
      sotwStream(s, { id: "sotw-1000", cluster: "bytes" }, { endpoints: message.big, routes: [] });
      deltaStream(s, { id: "delta-1000", cluster: "bytes" }, message.big);
      process.send({ op: "bytes-opened" });
      break;
    }
    case "counters":
      process.send({ op: "counters", ...counters });
      break;
    case "mark":
      counters.sotwBytes = 0;
      counters.deltaBytes = 0;
      process.send({ op: "marked" });
      break;
    case "stop":
      for (const s of sessions) s.destroy();
      process.exit(0);
  }
});
process.send({ op: "ready" });
