import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findChromium, launchChromium } from "./browser.js";

const chromiumPath = findChromium();

describe.skipIf(!chromiumPath)("the browser the UI tests drive", () => {
  const server = createServer((_req, res) => {
    res.setHeader("content-type", "text/html");
    res.end("<!doctype html><title>probe</title><button id=b onclick=\"this.textContent='clicked'\">go</button>");
  });
  beforeAll(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)));
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("loads a page from loopback and runs its script", async () => {
    const browser = await launchChromium(chromiumPath as string);
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.click("#b");
      expect(await page.textContent("#b")).toBe("clicked");
      expect(await page.title()).toBe("probe");
    } finally {
      await browser.close();
    }
  }, 90_000); // launchChromium may try twice
});
