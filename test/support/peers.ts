import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { needTool } from "./tools.js";

interface PeerModule {
  readonly module: string;
  readonly version: string;
  readonly configProto: string;
}

/** The pinned peer modules (scripts/peer-modules.json, also read by scripts/test-prereqs.mjs). */
export const peerModules = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../scripts/peer-modules.json", import.meta.url)), "utf8"),
) as { readonly envoyproxyRatelimit: PeerModule };

/**
 * The directory of envoyproxy/ratelimit's source in the Go module cache (put there by
 * scripts/test-prereqs.mjs), or undefined locally without Go (under CI=true that fails the run).
 */
export function envoyRateLimitSource(): string | undefined {
  const go = needTool("go", "install Go; `npm test` then downloads envoyproxy/ratelimit's module");
  if (!go) return undefined;
  const { module, version } = peerModules.envoyproxyRatelimit;
  const out = execFileSync(go, ["mod", "download", "-json", `${module}@${version}`], {
    encoding: "utf8",
    env: { ...process.env, GOFLAGS: "-mod=mod" },
    timeout: 120_000,
  });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`go mod download ${module}@${version} named no directory`);
  return dir;
}

export function envoyRateLimitConfigProto(dir: string): string {
  return join(dir, peerModules.envoyproxyRatelimit.configProto);
}
