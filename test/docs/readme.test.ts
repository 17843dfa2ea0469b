import { type ChildProcess, exec, spawn } from "node:child_process";
import { once } from "node:events";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { BootstrapSchema } from "../../src/gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import { bootstrapTypes } from "../../src/server/bootstrap.js";
import { runGantry } from "../support/cli.js";
import { waitFor } from "../support/wait.js";

/**
 * Every command the README shows runs as written. The commands are read from the README itself, so a
 * new one fails here until this test knows how to run it: `npx gantry …` runs the built CLI (what npx
 * resolves to in this checkout) against `gantry up` — `npm start` — on free ports, in a scratch
 * directory; `npm …` lines name scripts that exist (CI runs lint, typecheck and the tests itself).
 */
const root = new URL("../..", import.meta.url).pathname;
const bin = join(root, "bin/gantry.js");
const readme = readFileSync(join(root, "README.md"), "utf8");
const packageJson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
const sh = promisify(exec);

/** The lines of the README's ```sh blocks, without trailing comments. */
function shellLines(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1] ?? "");
  return blocks
    .flatMap((block) => block.split("\n"))
    .map((line) => line.replace(/\s+#\s.*$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/** The commands in the first column of the README's tables ("| `npx gantry --help` | …"). */
function tableCommands(markdown: string): string[] {
  return [...markdown.matchAll(/^\| `((?:npx|npm) [^`]+)` \|/gm)].map((m) => m[1] ?? "");
}

const commands = [...shellLines(readme), ...tableCommands(readme)];

describe("the README's commands run as written", () => {
  let child: ChildProcess;
  let output = "";
  let scratch: string;
  const env: Record<string, string> = {};

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "gantry-readme-"));
    // The README's commands run from a checkout: the example files they name are there.
    cpSync(new URL("../../examples", import.meta.url).pathname, join(scratch, "examples"), { recursive: true });
    const zeroPorts = ["xds", "api", "metrics", "extauth", "extauth-metrics", "ratelimit", "ratelimit-metrics"].flatMap(
      (name) => [`--${name}-port`, "0"],
    );
    child = spawn(process.execPath, [bin, "up", ...zeroPorts], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitFor(() => output.includes("Ctrl-C stops everything."), { what: "gantry up", timeoutMs: 20_000 });
    const api = /management API\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1];
    env["GANTRY_SERVER"] = `http://127.0.0.1:${api}`;
    env["GANTRY_API_TOKEN"] = /export GANTRY_API_TOKEN=(\S+)/.exec(output)?.[1] ?? "";
  }, 30_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("finds the commands to run", () => {
    expect(commands).toContain("npm start");
    expect(commands.some((c) => c.startsWith("npx gantry bootstrap"))).toBe(true);
  });

  it.each(commands.map((c) => [c]))("%s", async (command) => {
    if (command === "npm start") {
      expect(packageJson.scripts["start"]).toContain("bin/gantry.js up");
      return;
    }
    if (command === "npm test") {
      expect(packageJson.scripts["test"]).toBe("vitest run");
      return;
    }
    const script = /^npm run (\S+)$/.exec(command)?.[1];
    if (script !== undefined) {
      expect(packageJson.scripts[script], `package.json script ${script}`).toBeDefined();
      return;
    }
    const exported = /^export (\w+)=<[^>]+>$/.exec(command)?.[1];
    if (exported !== undefined) {
      expect(env[exported], `gantry up prints ${exported}`).toMatch(/\S{16,}/);
      return;
    }
    if (!command.startsWith("npx gantry")) {
      throw new Error(`test/docs/readme.test.ts does not know how to run the README's command: ${command}`);
    }
    const runnable = command.replace(/^npx gantry/, `"${process.execPath}" "${bin}"`);
    const { stdout, stderr } = await sh(runnable, { cwd: scratch, env: { ...process.env, ...env }, timeout: 20_000 });
    expect(`${stdout}${stderr}`).not.toMatch(/error/i);
  });

  it("writes bootstraps that parse: Envoy's against its protos, gRPC's as JSON with an xDS server", () => {
    const files = readdirSync(scratch);
    for (const file of files.filter((f) => f.endsWith(".yaml"))) {
      const bootstrap = fromJson(BootstrapSchema, parse(readFileSync(join(scratch, file), "utf8")) as JsonValue, {
        registry: bootstrapTypes,
      });
      expect(bootstrap.node?.id, file).not.toBe("");
    }
    for (const file of files.filter((f) => f.endsWith(".json"))) {
      const grpc = JSON.parse(readFileSync(join(scratch, file), "utf8")) as { xds_servers?: unknown[] };
      expect(grpc.xds_servers?.length, file).toBeGreaterThan(0);
    }
    expect(files.length).toBeGreaterThan(0);
  });
});

describe("the examples' gateways listen where Gantry does not", () => {
  it("no gateway listener in examples/features takes a port `gantry up` or Envoy's admin uses by default", async () => {
    const help = await runGantry(["up", "--help"]);
    const defaults = [...help.stdout.matchAll(/port[^\n]*\(default: (\d+)/g)].map((m) => Number(m[1]));
    expect(defaults).toContain(8080); // the management API: the clash this guards against
    const taken = new Set([...defaults, 9901, 15000]);
    const folder = join(root, "examples/features");
    const clashes: string[] = [];
    for (const file of readdirSync(folder).filter((f) => f.endsWith(".yaml"))) {
      for (const doc of parseAllDocuments(readFileSync(join(folder, file), "utf8"))) {
        const resource = doc.toJS() as { kind?: string; spec?: { listeners?: { port?: number }[] } } | null;
        if (resource?.kind !== "Gateway") continue;
        for (const listener of resource.spec?.listeners ?? []) {
          if (taken.has(listener.port ?? 0)) clashes.push(`${file}: port ${listener.port}`);
        }
      }
    }
    expect(clashes).toEqual([]);
  });
});
