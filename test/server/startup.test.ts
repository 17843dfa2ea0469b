import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServerOptions, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { freePort, isListening } from "../support/index.js";

const logger = createLogger({ service: "test", level: "silent" });

function options(overrides: Partial<ManagementServerOptions>): ManagementServerOptions {
  return {
    store: new MemoryStore(),
    host: "127.0.0.1",
    xdsPort: 0,
    apiPort: 0,
    apiToken: "startup-test-token-0123456789",
    logger,
    registry: createRegistry("server", { processMetrics: false }),
    ...overrides,
  };
}

describe("management server start: all or nothing", () => {
  it("refuses a short API token before opening the xDS port", async () => {
    const xdsPort = await freePort();
    await expect(startManagementServer(options({ xdsPort, apiToken: "too-short" }))).rejects.toThrow(
      "the API token must be at least 16 characters",
    );
    expect(await isListening(xdsPort)).toBe(false);
  });

  it("refuses to start without a token unless the API is explicitly insecure", async () => {
    const xdsPort = await freePort();
    await expect(startManagementServer(options({ xdsPort, apiToken: undefined }))).rejects.toThrow(
      "the management API needs a token",
    );
    expect(await isListening(xdsPort)).toBe(false);
  });

  it("closes the xDS port again when the API port cannot be opened", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const apiPort = (taken.address() as { port: number }).port;
    const xdsPort = await freePort();
    try {
      await expect(startManagementServer(options({ xdsPort, apiPort }))).rejects.toThrow(/EADDRINUSE/);
      expect(await isListening(xdsPort)).toBe(false);
    } finally {
      taken.close();
    }
  });
});
