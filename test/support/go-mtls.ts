// The Go ends of the mTLS and AccessPolicy tests (test/interop/go-mtls, built by scripts/test-prereqs.mjs):
// an xDS-enabled gRPC server, and a client reading JSON commands on stdin. Both print JSON lines. And
// what the suites that use them share: the greeter they serve, and their Go processes' lifecycle.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { ResourceDocument } from "../../src/store/index.js";
import { needTool } from "./tools.js";
import { waitFor } from "./wait.js";

// The name carries the program's version: .cache/bin is shared by checkouts of different versions.
export const goMtlsName = "gantry-mtls-go-v2";

export const whoami = "/gantry.interop.v1.Identity/Whoami";

/** The binary, or undefined (the suite skips locally; under CI=true a missing one fails). */
export function goMtlsBinary(): string | undefined {
  return needTool(goMtlsName, "run: node scripts/test-prereqs.mjs (needs Go)");
}

export interface MtlsCalls {
  target: string;
  /** Default: health Check. */
  method?: string;
  calls: number;
  concurrency?: number;
  timeoutMs?: number;
  /** "xds" (default): as the cluster's security config says; "tls": to host:port, certificate files as given. */
  creds?: "xds" | "insecure" | "tls";
  certFile?: string;
  keyFile?: string;
  /** On a channel of its own, closed after the batch: every batch makes a new TLS handshake. */
  fresh?: boolean;
}

export interface MtlsResults {
  /** gRPC status codes (decimal strings) and how many calls ended with each. */
  codes: Record<string, number>;
  /** Whoami answers: the SPIFFE ID the server saw, and how many times. */
  identities: Record<string, number>;
  errors: string[];
  elapsedUs: number;
}

interface Child {
  child: ChildProcess;
  logs: string[];
  exited: () => boolean;
}

function start(binary: string, args: string[], bootstrap: object, env: NodeJS.ProcessEnv = {}): Child {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) };
  delete childEnv["GRPC_XDS_BOOTSTRAP"];
  const child = spawn(binary, args, { env: childEnv, stdio: ["pipe", "pipe", "pipe"] });
  const logs: string[] = [];
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    if (logs.length > 300) logs.splice(0, logs.length - 300);
  });
  return { child, logs, exited: () => exited };
}

async function stop({ child, exited }: Child): Promise<void> {
  if (exited()) return;
  child.stdin?.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  child.kill("SIGTERM");
  await waitFor(exited, { timeoutMs: 5_000, what: "the Go process to exit" });
  clearTimeout(timer);
}

export interface GoServer {
  /** Serving-mode changes the server reported, in order ("SERVING", "NOT_SERVING" and the error). */
  readonly modes: { mode: string; error?: string }[];
  stop(): Promise<void>;
  output(): string;
}

/** Starts the xDS-enabled server on `address` and resolves once it is listening. */
export async function startGoServer(binary: string, address: string, bootstrap: object): Promise<GoServer> {
  const proc = start(binary, ["server", "-address", address], bootstrap);
  const modes: { mode: string; error?: string }[] = [];
  let listening = false;
  createInterface({ input: proc.child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    const event = JSON.parse(line) as { event: string; mode?: string; error?: string };
    if (event.event === "listening") listening = true;
    if (event.event === "mode" && event.mode)
      modes.push({ mode: event.mode, ...(event.error ? { error: event.error } : {}) });
  });
  await waitFor(() => listening || proc.exited(), { timeoutMs: 30_000, what: "the Go server to listen" });
  if (proc.exited()) throw new Error(`the Go server exited at start:\n${proc.logs.join("\n")}`);
  return { modes, stop: () => stop(proc), output: () => proc.logs.join("\n") };
}

export interface GoClient {
  run(calls: MtlsCalls): Promise<MtlsResults>;
  stop(): Promise<void>;
  output(): string;
}

export async function startGoClient(binary: string, bootstrap: object): Promise<GoClient> {
  const proc = start(binary, ["client"], bootstrap);
  const waiting = new Map<number, { resolve: (r: MtlsResults) => void; reject: (e: Error) => void }>();
  proc.child.on("exit", () => {
    for (const { reject } of waiting.values()) reject(new Error(`the Go client exited:\n${proc.logs.join("\n")}`));
    waiting.clear();
  });
  createInterface({ input: proc.child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    const result = JSON.parse(line) as MtlsResults & { id: number };
    waiting.get(result.id)?.resolve(result);
    waiting.delete(result.id);
  });
  await waitFor(() => proc.logs.some((l) => l.includes("mtls client ready")) || proc.exited(), {
    timeoutMs: 30_000,
    what: "the Go client to start",
  });
  if (proc.exited()) throw new Error(`the Go client exited at start:\n${proc.logs.join("\n")}`);
  let nextId = 0;
  return {
    run(calls) {
      const id = nextId++;
      if (proc.exited()) return Promise.reject(new Error(`the Go client exited:\n${proc.logs.join("\n")}`));
      const done = new Promise<MtlsResults>((resolve, reject) => waiting.set(id, { resolve, reject }));
      proc.child.stdin?.write(`${JSON.stringify({ id, concurrency: 1, timeoutMs: 3_000, creds: "xds", ...calls })}\n`);
      return done;
    },
    stop: () => stop(proc),
    output: () => proc.logs.join("\n"),
  };
}

/** Only `allowed` may call the greeter; `denied` is refused explicitly too. */
export function greeterPolicies(namespace: string, allowed: string, denied: string): ResourceDocument[] {
  return [
    {
      apiVersion: "gantry/v1",
      kind: "AccessPolicy",
      metadata: { name: "callers", namespace },
      spec: { destinations: [{ labels: { app: "greeter" } }], rules: [{ from: { identities: [allowed] } }] },
    },
    {
      apiVersion: "gantry/v1",
      kind: "AccessPolicy",
      metadata: { name: "refused", namespace },
      spec: { action: "DENY", rules: [{ from: { identities: [denied] } }] },
    },
  ];
}

export interface GreeterOptions {
  namespace: string;
  /** Where the Go server listens (127.0.0.1). */
  serverPort: number;
  /** The SPIFFE IDs greeterPolicies allows and denies. */
  allowed: string;
  denied: string;
  /** The clusters the greeter (and its servers' gateway) and its callers' gateway are placed in; none by default. */
  placement?: { server: string; callers: string };
}

/**
 * The greeter: a Destination with workload mTLS served by the Go server (a GRPC_SERVER gateway for
 * nodes labelled app=greeter-server), a route table `greeter.mtls` for proxyless callers labelled
 * app=mtls-caller, and greeterPolicies.
 */
export function greeterResources(options: GreeterOptions): ResourceDocument[] {
  const { namespace, serverPort, placement } = options;
  const placed = (cluster: string | undefined) => (cluster === undefined ? {} : { clusters: [cluster] });
  const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace, ...extra });
  return [
    {
      apiVersion: "gantry/v1",
      kind: "Destination",
      metadata: meta("greeter", { labels: { app: "greeter" }, ...placed(placement?.server) }),
      spec: {
        ports: [{ number: 50051, protocol: "GRPC", targetPort: serverPort }],
        endpoints: [{ address: "127.0.0.1" }],
        workloadTls: { mode: "MUTUAL" },
      },
    },
    {
      apiVersion: "gantry/v1",
      kind: "Gateway",
      metadata: meta("greeter-servers", placed(placement?.server)),
      spec: {
        kind: "GRPC_SERVER",
        proxies: { labels: { app: "greeter-server" } },
        listeners: [{ port: serverPort, bindAddress: "127.0.0.1", destination: { name: "greeter" } }],
      },
    },
    {
      apiVersion: "gantry/v1",
      kind: "Gateway",
      metadata: meta("callers", placed(placement?.callers)),
      spec: { kind: "GRPC_PROXYLESS", proxies: { labels: { app: "mtls-caller" } } },
    },
    {
      apiVersion: "gantry/v1",
      kind: "RouteTable",
      metadata: meta("greeter"),
      spec: {
        hosts: ["greeter.mtls"],
        gateways: [{ name: "callers" }],
        http: [{ name: "all", forwardTo: { destinations: [{ destination: { name: "greeter" } }] } }],
      },
    },
    ...greeterPolicies(namespace, options.allowed, options.denied),
  ];
}

/** A suite's Go processes: each started here, all stopped together. */
export class GoWorkloads {
  readonly #binary: string;
  readonly #started: Array<GoServer | GoClient> = [];

  constructor(binary: string) {
    this.#binary = binary;
  }

  /** Starts the Go server on `address` and resolves once it serves (it took its Listener by xDS). */
  async server(address: string, bootstrap: object, timeoutMs: number): Promise<GoServer> {
    const server = await startGoServer(this.#binary, address, bootstrap);
    this.#started.push(server);
    await waitFor(() => server.modes.some((m) => m.mode === "SERVING"), {
      timeoutMs,
      what: "the Go server to take its Listener",
    });
    return server;
  }

  async client(bootstrap: object): Promise<GoClient> {
    const client = await startGoClient(this.#binary, bootstrap);
    this.#started.push(client);
    return client;
  }

  async stop(): Promise<void> {
    await Promise.all(this.#started.splice(0).map((p) => p.stop().catch(() => {})));
  }
}
