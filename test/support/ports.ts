import { connect, createServer } from "node:net";

function tryListen(port: number, host = "127.0.0.1"): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export async function freePort(): Promise<number> {
  const port = await tryListen(0);
  if (port === undefined) throw new Error("no free port on 127.0.0.1");
  return port;
}

/**
 * A free port P whose companion P + offset is free too (Redis Cluster's bus port is P + 10000),
 * drawn below the kernel's ephemeral range so the companion stays a valid port.
 */
export async function freePortPair(offset: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if ((await tryListen(port)) !== undefined && (await tryListen(port + offset)) !== undefined) return port;
  }
  throw new Error(`no free port pair (P, P+${offset}) on 127.0.0.1`);
}

/**
 * Where ports for a server that starts later are drawn: below the kernel's ephemeral range (32768 and
 * up on Linux), which freePort draws from, and below freePortPair's (20000 and up).
 */
const laterPorts = { from: 10_000, to: 20_000 };
const heldForLater = new Set<number>();

/**
 * A free port for a server started later (a dependency that comes up late). Nothing listens on it
 * meanwhile, so it comes from a range freePort never returns: another test's freePort cannot take it.
 * Each is given once per process; across processes the draw is random over 10,000 ports.
 */
export async function portForLater(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = laterPorts.from + Math.floor(Math.random() * (laterPorts.to - laterPorts.from));
    if (heldForLater.has(port) || (await tryListen(port)) === undefined) continue;
    heldForLater.add(port);
    return port;
  }
  throw new Error(`no free port in ${laterPorts.from}-${laterPorts.to - 1} on 127.0.0.1`);
}

/** `count` numbers as a tuple, so `const [a, b] = await freePorts(2)` gives two numbers. */
type Ports<N extends number, T extends number[] = []> = number extends N
  ? number[]
  : T["length"] extends N
    ? T
    : Ports<N, [...T, number]>;

/**
 * `count` different free ports. Two calls to freePort can name the same port (it was free both
 * times), which a process given both refuses.
 */
export async function freePorts<N extends number>(count: N): Promise<Ports<N>> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports] as Ports<N>;
}

/** Whether something accepts TCP connections on the port of 127.0.0.1. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
