// `gantry server` as bench/xds-propagation runs it (in-memory store, default debounce and limits), with a
// trace: the store's writes and reads (an apply stored; a translation starting) and every xDS stream event
// (requests, ACKs, pushes), each with a wall-clock time in ms (sub-ms), so that run.mjs --trace can lay one
// change's path beside the Go clients' times. The events are kept in memory and written as JSON lines to
// the file given when the process is told SIGTERM. Built from dist/ (`npx tsc -p tsconfig.build.json`).
//
//   node bench/xds-propagation/traced-server.mjs XDS_PORT API_PORT TRACE_FILE   (GANTRY_API_TOKEN in env)
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist");
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { startManagementServer } = await load("server/index.js");
const { MemoryStore } = await load("store/index.js");
const { createLogger, createRegistry, systemClock } = await load("lib/index.js");

const [xdsPort, apiPort, traceFile] = process.argv.slice(2);
const events = [];
const now = () => performance.timeOrigin + performance.now();
const short = (typeUrl) => typeUrl.slice(typeUrl.lastIndexOf(".") + 1);

const memory = new MemoryStore();
const store = new Proxy(memory, {
  get(target, property) {
    if (property === "apply") {
      return async (...args) => {
        const result = await target.apply(...args);
        events.push({ t: now(), ev: "stored", revision: result.revision });
        return result;
      };
    }
    if (property === "snapshot") {
      return (...args) => {
        events.push({ t: now(), ev: "snapshot" });
        return target.snapshot(...args);
      };
    }
    const value = Reflect.get(target, property, target);
    return typeof value === "function" ? value.bind(target) : value;
  },
});

const hooks = {
  onRequest: (stream, request) =>
    events.push({
      t: now(),
      ev: "request",
      stream: stream.id,
      node: stream.node.id,
      type: short(request.typeUrl),
      ack: request.nonce !== "",
      stale: request.stale,
      names: request.names.join(","),
    }),
  onPush: (stream, push) =>
    events.push({
      t: now(),
      ev: "push",
      stream: stream.id,
      node: stream.node.id,
      type: short(push.typeUrl),
      resources: push.resources,
      publishedAt: push.publishedAt,
    }),
  onAck: (stream, ack) =>
    events.push({ t: now(), ev: "ack", stream: stream.id, node: stream.node.id, type: short(ack.push.typeUrl) }),
  onNack: (stream, nack) =>
    events.push({ t: now(), ev: "nack", stream: stream.id, node: stream.node.id, type: short(nack.push.typeUrl) }),
};

const server = await startManagementServer({
  store,
  host: "127.0.0.1",
  xdsPort: Number(xdsPort),
  apiPort: Number(apiPort),
  apiToken: process.env.GANTRY_API_TOKEN,
  logger: createLogger({ service: "server", level: "warn" }),
  registry: createRegistry("server"),
  xdsHooks: hooks,
  // Node's timers, and the trace's sub-millisecond wall clock: a push's publishedAt is when it was published.
  clock: { ...systemClock, now },
});
process.once("SIGTERM", async () => {
  await server.stop();
  writeFileSync(traceFile, events.map((e) => JSON.stringify(e)).join("\n"));
  process.exit(0);
});
console.log(JSON.stringify({ ready: true }));
