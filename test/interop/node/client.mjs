// A gRPC xDS client (grpc-js with @grpc/grpc-js-xds) driven by Gantry's interop tests: reads one JSON
// command per line on stdin, makes the calls it asks for through the xds:/// resolver (bootstrap from
// GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG), and writes one JSON result per line: which backend
// answered each call (its "backend" response header) and the gRPC status codes.
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";

grpcXds.register();
const identity = (b) => b;
const clients = new Map();

function call(client, method, metadata, timeoutMs) {
  return new Promise((resolve) => {
    let backend;
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata ?? {})) md.set(k, v);
    const c = client.makeUnaryRequest(
      method,
      identity,
      identity,
      Buffer.alloc(0),
      md,
      { deadline: Date.now() + timeoutMs },
      (err) => resolve({ code: err ? err.code : 0, backend: err ? undefined : backend, error: err?.message }),
    );
    c.on("metadata", (m) => {
      backend = m.get("backend")[0]?.toString();
    });
  });
}

async function run(cmd) {
  let client = clients.get(cmd.target);
  if (!client) {
    client = new grpc.Client(cmd.target, grpc.credentials.createInsecure());
    clients.set(cmd.target, client);
  }
  const result = { id: cmd.id, backends: {}, codes: {}, errors: [] };
  const method = cmd.method || "/grpc.health.v1.Health/Check";
  let next = 0;
  const worker = async () => {
    while (next < cmd.calls) {
      next++;
      const { code, backend, error } = await call(client, method, cmd.metadata, Math.max(1, cmd.timeoutMs ?? 1000));
      result.codes[code] = (result.codes[code] ?? 0) + 1;
      if (backend !== undefined) result.backends[backend] = (result.backends[backend] ?? 0) + 1;
      if (error && result.errors.length < 5) result.errors.push(error);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cmd.concurrency ?? 1) }, worker));
  return result;
}

process.stderr.write("interop client ready\n");
// Commands run one after another, in the order they came.
let queue = Promise.resolve();
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === "") continue;
  const cmd = JSON.parse(line);
  queue = queue.then(async () => process.stdout.write(`${JSON.stringify(await run(cmd))}\n`));
}
await queue;
for (const client of clients.values()) client.close();
process.exit(0);
