import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
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

/** Launches headless Chromium. `--no-sandbox` because tests may run as root, where the sandbox refuses to start. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
}

/** Saves a full-page screenshot under screenshotsRoot/suite/name.png and returns its path. */
export async function saveScreenshot(page: Page, suite: string, name: string): Promise<string> {
  const dir = join(screenshotsRoot, suite);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
