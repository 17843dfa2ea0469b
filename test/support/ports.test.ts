import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePorts } from "./ports.js";

/** Binds a port on 127.0.0.1 and lets it go: it throws if the port is taken. */
const bindOnce = (port: number) =>
  new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });

describe("freePorts", () => {
  it("gives `count` different ports, each free, as a tuple of that length", async () => {
    const [first, second, third] = await freePorts(3);
    // Typed as numbers, not number | undefined (a plain number[] would not typecheck here).
    const ports: [number, number, number] = [first, second, third];
    expect(new Set(ports).size).toBe(3);
    const many = await freePorts(40);
    expect(new Set(many).size).toBe(40);
    for (const port of many) await bindOnce(port);
  });
});
