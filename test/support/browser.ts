import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, errors, type Page } from "playwright-core";
import { needTool } from "./tools.js";

/**
 * Where browser tests save their screenshots: `test-artifacts/screenshots/<suite>/<name>.png` at the
 * repository root (git-ignored; CI keeps the folder as an artifact).
 */
export const screenshotsRoot = fileURLToPath(new URL("../../test-artifacts/screenshots", import.meta.url));

/**
 * Debian's `chromium`, driven by playwright-core (no browser download: the registry's builds are not
 * reachable here). Undefined locally when chromium is missing (the suite skips, saying so); under CI=true
 * a missing browser fails the run.
 */
export function findChromium(): string | undefined {
  return needTool("chromium", "install with: sudo apt-get install chromium");
}

/** How long one launch may take; two tries fit in the 60 s hook timeout. */
const launchTimeoutMs = 25_000;

/**
 * Launches headless Chromium. `--no-sandbox` because tests may run as root, where the sandbox refuses to
 * start. A launch that does not answer in time is tried once more: on a fully loaded CI run one launch
 * was seen not to answer within 30 s while every other test's did.
 */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const options = { executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu"], timeout: launchTimeoutMs };
  try {
    return await chromium.launch(options);
  } catch (err) {
    if (!(err instanceof errors.TimeoutError)) throw err;
    console.warn(`chromium did not start within ${launchTimeoutMs} ms; trying once more`);
    return chromium.launch(options);
  }
}

/** Saves a full-page screenshot under screenshotsRoot/suite/name.png and returns its path. */
export async function saveScreenshot(page: Page, suite: string, name: string): Promise<string> {
  const dir = join(screenshotsRoot, suite);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
