// A lean gRPC load generator on node:http2 for bench/extauth/opa.mjs: pre-encoded Check requests,
// a fixed number of streams in flight over a few connections, for a bounded time, to loopback only.
//   node load.mjs <port> <requests.bin> <connections> <streamsPerConnection> <warmupMs> <durationMs>
// Prints one JSON line: completed calls, failures, req/s and latency percentiles (ms).
import { readFileSync } from "node:fs";
import { connect } from "node:http2";

const [port, requestsFile, connections, streams, warmupMs, durationMs] = process.argv.slice(2);
const requests = JSON.parse(readFileSync(requestsFile, "utf8")).map((b64) => {
  const bytes = Buffer.from(b64, "base64");
  const framed = Buffer.alloc(5 + bytes.length);
  framed.writeUInt32BE(bytes.length, 1);
  framed.set(bytes, 5);
  return framed;
});
const headers = {
  ":method": "POST",
  ":path": "/envoy.service.auth.v3.Authorization/Check",
  "content-type": "application/grpc",
  te: "trailers",
};

const start = performance.now();
const measureFrom = start + Number(warmupMs);
const stopAt = measureFrom + Number(durationMs);
const latencies = new Float64Array(5_000_000);
let measured = 0;
let failures = 0;
let next = 0;

function call(session) {
  return new Promise((resolve) => {
    const began = performance.now();
    const stream = session.request(headers);
    let status;
    stream.on("response", () => {});
    stream.on("trailers", (trailers) => {
      status = trailers["grpc-status"];
    });
    stream.on("data", () => {});
    stream.on("close", () => {
      const ended = performance.now();
      if (began >= measureFrom && ended <= stopAt) {
        if (status === "0") latencies[measured++] = ended - began;
        else failures++;
      }
      resolve();
    });
    stream.end(requests[next++ % requests.length]);
  });
}

async function worker(session) {
  while (performance.now() < stopAt) await call(session);
}

const sessions = [];
for (let i = 0; i < Number(connections); i++) {
  const session = connect(`http://127.0.0.1:${port}`);
  await new Promise((resolve, reject) => session.once("connect", resolve).once("error", reject));
  sessions.push(session);
}
await Promise.all(sessions.flatMap((session) => Array.from({ length: Number(streams) }, () => worker(session))));
for (const session of sessions) session.close();

const sorted = latencies.subarray(0, measured).sort();
const percentile = (p) => sorted[Math.min(measured - 1, Math.floor((p / 100) * measured))] ?? Number.NaN;
console.log(
  JSON.stringify({
    completed: measured,
    failures,
    rps: measured / (Number(durationMs) / 1000),
    p50: percentile(50),
    p90: percentile(90),
    p99: percentile(99),
    max: sorted[measured - 1] ?? Number.NaN,
  }),
);
