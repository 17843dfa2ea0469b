import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePorts, portForLater } from "./ports.js";

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

describe("portForLater", () => {
  it("gives different free ports below the kernel's ephemeral range, where freePort draws from", async () => {
    const [ephemeralFrom] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const ports = [];
    for (let i = 0; i < 20; i++) ports.push(await portForLater());
    expect(new Set(ports).size).toBe(20);
    for (const port of ports) {
      expect(port).toBeLessThan(Number(ephemeralFrom));
      await bindOnce(port);
    }
  });
});
