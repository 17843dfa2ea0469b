// The real xDS clients of the conformance matrix, each its own process speaking one line protocol:
// a JSON command per line on stdin ({ id, target, method, calls, concurrency, metadata, timeoutMs }),
// a JSON result per line on stdout ({ id, backends: {name: count}, codes: {code: count}, errors }).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { inCI, needTool } from "../support/tools.js";
import { waitFor } from "../support/wait.js";

export const clientKinds = ["grpc-js", "go", "grpcio", "java"] as const;
export type ClientKind = (typeof clientKinds)[number];

export interface Calls {
  target: string;
  /** Full method name; default /grpc.health.v1.Health/Check. */
  method?: string;
  calls: number;
  concurrency?: number;
  metadata?: Record<string, string>;
  timeoutMs?: number;
}

export interface CallResults {
  backends: Record<string, number>;
  /** gRPC status codes (as decimal strings) and how many calls ended with each. */
  codes: Record<string, number>;
  errors: string[];
}

export interface InteropClient {
  readonly kind: ClientKind;
  run(calls: Calls): Promise<CallResults>;
  stop(): Promise<void>;
  output(): string;
}

const root = fileURLToPath(new URL("../..", import.meta.url));
/** Built from test/interop/go by scripts/test-prereqs.mjs. */
export const goClientName = "gantry-interop-go";
/** Built from test/interop/java by scripts/test-prereqs.mjs (Maven, io.grpc:grpc-xds); starts the JVM. */
export const javaClientName = "gantry-interop-java";
/** Made by scripts/test-prereqs.mjs with grpcio from PyPI. */
export const venvPython = `${root}.venv/bin/python`;

/** The command that starts a client, or undefined (skip locally; fail under CI) when it is not built. */
export function clientCommand(kind: ClientKind): { command: string; args: string[] } | undefined {
  const missing = (what: string) => {
    const message = `${what} is not installed; run: node scripts/test-prereqs.mjs`;
    if (inCI) throw new Error(`CI=true and ${message}`);
    console.warn(`skipping the ${kind} client: ${message}`);
    return undefined;
  };
  switch (kind) {
    case "grpc-js":
      return { command: process.execPath, args: [`${root}test/interop/node/client.mjs`] };
    case "go": {
      const path = needTool(goClientName, "run: node scripts/test-prereqs.mjs");
      return path ? { command: path, args: [] } : undefined;
    }
    case "java": {
      const path = needTool(javaClientName, "run: node scripts/test-prereqs.mjs (needs a JDK 17+ and Maven 3)");
      return path ? { command: path, args: [] } : undefined;
    }
    case "grpcio":
      return existsSync(venvPython)
        ? { command: venvPython, args: [`${root}test/interop/python/client.py`] }
        : missing(".venv with grpcio");
  }
}

/** Starts a client with its xDS bootstrap in GRPC_XDS_BOOTSTRAP_CONFIG; resolves once it is ready. */
export async function startClient(kind: ClientKind, bootstrap: object): Promise<InteropClient | undefined> {
  const command = clientCommand(kind);
  if (!command) return undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) };
  delete env["GRPC_XDS_BOOTSTRAP"];
  const child: ChildProcess = spawn(command.command, command.args, { env, stdio: ["pipe", "pipe", "pipe"] });
  const logs: string[] = [];
  let ready = false;
  let exited = false;
  child.on("exit", () => {
    exited = true;
    for (const { reject } of waiting.values()) reject(new Error(`the ${kind} client exited:\n${logs.join("\n")}`));
    waiting.clear();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    if (text.includes("interop client ready")) ready = true;
    logs.push(...text.split("\n").filter(Boolean));
    if (logs.length > 200) logs.splice(0, logs.length - 200);
  });
  const waiting = new Map<number, { resolve: (result: CallResults) => void; reject: (error: Error) => void }>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    const result = JSON.parse(line) as CallResults & { id: number };
    waiting.get(result.id)?.resolve(result);
    waiting.delete(result.id);
  });
  await waitFor(() => ready || exited, { timeoutMs: 60_000, what: `the ${kind} client to start` });
  if (exited) throw new Error(`the ${kind} client exited at start:\n${logs.join("\n")}`);
  let nextId = 0;
  return {
    kind,
    output: () => logs.join("\n"),
    run(calls) {
      const id = nextId++;
      if (exited) return Promise.reject(new Error(`the ${kind} client exited:\n${logs.join("\n")}`));
      const done = new Promise<CallResults>((resolve, reject) => waiting.set(id, { resolve, reject }));
      child.stdin?.write(
        `${JSON.stringify({ id, concurrency: 1, timeoutMs: 5_000, metadata: {}, method: "", ...calls })}\n`,
      );
      return done;
    },
    async stop() {
      if (exited) return;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      child.kill("SIGTERM");
      await waitFor(() => exited, { timeoutMs: 5_000, what: `the ${kind} client to exit` });
      clearTimeout(timer);
    },
  };
}
