import { describe, expect, it } from "vitest";
import { runGantry } from "../support/cli.js";
import { freePorts, isListening } from "../support/ports.js";

// The relay flags of `gantry server` are checked before any port opens.

const gantry = (...args: string[]) => runGantry(args, { timeoutMs: 100_000 });

describe("gantry server relay flags", () => {
  it("refuse a CA certificate without its key, and a bad trust domain, before any port opens", {
    timeout: 200_000,
  }, async () => {
    const [xds, api, metrics, relay] = await freePorts(4);
    const base = ["server", "--insecure-api", "--host", "127.0.0.1", "--xds-port", String(xds)];
    const ports = ["--api-port", String(api), "--metrics-port", String(metrics), "--relay-port", String(relay)];
    const halfCa = await gantry(...base, ...ports, "--relay-ca-cert-file", "ca.pem");
    expect(halfCa.code).not.toBe(0);
    expect(halfCa.stderr).toContain("--relay-ca-cert-file and --relay-ca-key-file go together");
    const domain = await gantry(...base, ...ports, "--trust-domain", "Not A Domain");
    expect(domain.stderr).toContain('--trust-domain "Not A Domain": must be a DNS name in lower case');
    for (const port of [xds, api, metrics, relay]) expect(await isListening(port)).toBe(false);
  });

  it("refuse a default registration token lifetime over 7 days, the bound `cluster add --ttl-seconds` has", {
    timeout: 200_000,
  }, async () => {
    const [xds, api, metrics, relay] = await freePorts(4);
    const args = [
      "server",
      "--insecure-api",
      "--host",
      "127.0.0.1",
      "--xds-port",
      String(xds),
      "--api-port",
      String(api),
    ];
    const ports = ["--metrics-port", String(metrics), "--relay-port", String(relay)];
    const long = await gantry(...args, ...ports, "--cluster-token-ttl-seconds", String(7 * 24 * 3600 + 1));
    expect(long.code).toBe(1);
    expect(long.stderr).toContain("--cluster-token-ttl-seconds 604801: at most 604800 (7 days)");
    for (const port of [xds, api, metrics, relay]) expect(await isListening(port)).toBe(false);
  });
});
