// The dashboard benchmark's world: 1,000 routes over 100 route tables on 50 gateways, 300
// destinations and 50 fault policies (a graph of 500 nodes), and raw SotW ADS streams standing in
// for proxies (LDS and CDS wildcard, every response ACKed), as Envoy subscribes.
import { connect } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TypeUrl } from "../../dist/envoy/index.js";
import {
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "../../dist/gen/envoy/service/discovery/v3/discovery_pb.js";

export const gateways = 50;
export const routeTables = 100;
export const routesPerTable = 10;
export const destinations = 300;
export const policies = 50;

export function documents() {
  const meta = (name) => ({ name, namespace: "bench" });
  const docs = [];
  for (let g = 0; g < gateways; g++) {
    docs.push({
      apiVersion: "gantry/v1",
      kind: "Gateway",
      metadata: meta(`g${g}`),
      spec: { proxies: { labels: { gw: `g${g}` } }, listeners: [{ port: 10080 }] },
    });
  }
  for (let d = 0; d < destinations; d++) {
    docs.push({
      apiVersion: "gantry/v1",
      kind: "Destination",
      metadata: meta(`d${d}`),
      spec: { ports: [{ number: 80 }], endpoints: [{ address: `10.0.${Math.floor(d / 250)}.${(d % 250) + 1}` }] },
    });
  }
  for (let t = 0; t < routeTables; t++) {
    docs.push({
      apiVersion: "gantry/v1",
      kind: "RouteTable",
      metadata: meta(`rt${t}`),
      spec: {
        hosts: [`rt${t}.example.com`],
        gateways: [{ name: `g${t % gateways}` }],
        http: Array.from({ length: routesPerTable }, (_, r) => ({
          name: `r${r}`,
          labels: { policy: `p${t % policies}` },
          matchers: [{ prefix: `/r${r}` }],
          forwardTo: { destinations: [{ destination: { name: `d${(t * 3 + r) % destinations}` } }] },
        })),
      },
    });
  }
  for (let p = 0; p < policies; p++) {
    docs.push({
      apiVersion: "gantry/v1",
      kind: "FaultInjectionPolicy",
      metadata: meta(`p${p}`),
      spec: {
        applyToRoutes: [{ route: { labels: { policy: `p${p}` } } }],
        delay: { fixedDelay: "0.1s", percentage: 1 },
      },
    });
  }
  return docs;
}

function frame(message) {
  const body = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, message));
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = 0;
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

/** `count` proxies on one HTTP/2 connection each; resolves to a close function. */
export function startProxies(xdsPort, count) {
  const sessions = [];
  for (let i = 0; i < count; i++) {
    const session = connect(`http://127.0.0.1:${xdsPort}`);
    session.on("error", () => undefined);
    sessions.push(session);
    const stream = session.request({
      ":method": "POST",
      ":path": "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => undefined);
    const node = { id: `proxy-${i}`, cluster: "bench", metadata: { labels: { gw: `g${i % gateways}` } } };
    stream.write(frame({ node, typeUrl: TypeUrl.cluster }));
    stream.write(frame({ typeUrl: TypeUrl.listener }));
    let buffered = Buffer.alloc(0);
    stream.on("data", (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 5) {
        const length = buffered.readUInt32BE(1);
        if (buffered.length < 5 + length) break;
        const response = fromBinary(DiscoveryResponseSchema, buffered.subarray(5, 5 + length));
        buffered = buffered.subarray(5 + length);
        stream.write(
          frame({ typeUrl: response.typeUrl, versionInfo: response.versionInfo, responseNonce: response.nonce }),
        );
      }
    });
  }
  return () => {
    for (const session of sessions) session.destroy();
  };
}
