import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isListening } from "./ports.js";
import { haveRedis, startRedis } from "./redis.js";

/** The first port of the kernel's ephemeral range, where freePort's ports come from (Linux). */
function ephemeralFrom(): number {
  const [from] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  if (from === undefined || !Number.isInteger(from)) throw new Error("unreadable ip_local_port_range");
  return from;
}

describe.skipIf(!haveRedis())("startRedis", () => {
  it("with running: false, holds a port no freePort returns, refuses connections on it, and starts there later", async () => {
    const late = await startRedis({ running: false });
    try {
      // A port from the ephemeral range, not listened on, could be handed to another test meanwhile.
      expect(late.port).toBeLessThan(ephemeralFrom());
      expect(await isListening(late.port)).toBe(false);
      await late.start();
      expect(await late.cli("PING")).toBe("PONG");
    } finally {
      await late.close();
    }
  });
});
