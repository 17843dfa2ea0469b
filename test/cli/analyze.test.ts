// `gantry analyze DIR` on files: exit status, text, JSON and SARIF 2.1.0 reports.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { insightCodes } from "../../src/insights/index.js";
import { runGantry } from "../support/cli.js";

const gateway = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: edge }
spec:
  proxies: { labels: { app: edge } }
  listeners: [{ port: 8080 }]
`;

const routes = (destination: string) => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: web }
spec:
  hosts: [shop.example]
  gateways: [{ name: edge }]
  http:
    - name: all
      forwardTo:
        destinations: [{ destination: { name: ${destination} } }]
        timeout: 5s
`;

const destination = `apiVersion: gantry/v1
kind: Destination
metadata: { name: web }
spec:
  ports: [{ number: 80 }]
  endpoints: [{ address: 10.0.0.1 }]
`;

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "gantry-analyze-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

// Every run starts the CLI, which takes seconds on a loaded machine.
describe("gantry analyze", { timeout: 240_000 }, () => {
  it("exits 0 with no findings on a sound folder", async () => {
    const dir = folder({ "gw.yaml": gateway, "app/routes.yaml": `${routes("web")}---\n${destination}` });
    const result = await runGantry(["analyze", dir], { timeoutMs: 90_000 });
    expect(result.stdout).toBe("No findings.\n");
    expect(result.code).toBe(0);
  });

  it("exits 1 on an ERROR and names file and line", async () => {
    const dir = folder({ "gw.yaml": gateway, "routes.yaml": `${destination}---\n${routes("missing")}` });
    const result = await runGantry(["analyze", dir], { timeoutMs: 90_000 });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/ERROR\s+GTY0101\s+\S*routes\.yaml:8\s+RouteTable default\/web spec\.http\[0\]/);
    expect(result.stderr).toMatch(/1 finding\(s\) at ERROR or above/);
  });

  it("INFO findings alone pass by default; --fail-on info makes them fail", async () => {
    const unused = destination.replace("name: web", "name: old");
    const dir = folder({ "all.yaml": [gateway, routes("web"), destination, unused].join("---\n") });
    expect((await runGantry(["analyze", dir], { timeoutMs: 90_000 })).code).toBe(0);
    expect((await runGantry(["analyze", dir, "--fail-on", "info"], { timeoutMs: 90_000 })).code).toBe(1);
    const json = await runGantry(["analyze", dir, "--format", "json"], { timeoutMs: 90_000 });
    const report = JSON.parse(json.stdout) as { findings: { code: string; line: number; docs: string }[] };
    expect(report.findings.map((f) => [f.code, f.line, f.docs])).toEqual([["GTY0108", 27, "docs/insights.md#gty0108"]]);
  });

  it("--format sarif writes a SARIF 2.1.0 log with every required field", async () => {
    const dir = folder({ "gw.yaml": gateway, "routes.yaml": routes("missing"), "broken.yaml": "kind: [\n" });
    const out = join(dir, "report.sarif");
    const result = await runGantry(["analyze", dir, "--format", "sarif", "--output", out], { timeoutMs: 90_000 });
    expect(result.code).toBe(1);
    // No maintained SARIF schema package is on npm, so the schema's required properties are checked
    // here: sarifLog {version, runs}, run {tool}, tool {driver}, driver {name}, rule {id},
    // result {message}, message {text}, and the shapes of locations.
    const log = JSON.parse(readFileSync(out, "utf8")) as {
      $schema: string;
      version: string;
      runs: {
        tool: {
          driver: {
            name: string;
            version: string;
            rules: { id: string; name: string; defaultConfiguration: { level: string } }[];
          };
        };
        results: {
          ruleId: string;
          ruleIndex?: number;
          level: string;
          message: { text: string };
          locations?: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[];
        }[];
      }[];
    };
    expect(log.version).toBe("2.1.0");
    expect(log.$schema).toMatch(/sarif-2\.1\.0/);
    expect(log.runs).toHaveLength(1);
    const run = log.runs[0];
    expect(run?.tool.driver.name).toBe("gantry");
    const rules = run?.tool.driver.rules ?? [];
    for (const rule of rules) {
      expect(rule.id).toMatch(/^GTY\d{4}$/);
      expect(insightCodes.has(rule.id)).toBe(true);
      expect(["error", "warning", "note"]).toContain(rule.defaultConfiguration.level);
    }
    const results = run?.results ?? [];
    expect(results.map((r) => r.ruleId).sort()).toEqual(["GTY0101", "GTY0109"]);
    for (const r of results) {
      expect(r.message.text.length).toBeGreaterThan(0);
      expect(["error", "warning", "note"]).toContain(r.level);
      if (r.ruleIndex !== undefined) expect(rules[r.ruleIndex]?.id).toBe(r.ruleId);
      const location = r.locations?.[0]?.physicalLocation;
      expect(location?.artifactLocation.uri).toMatch(/\.yaml$/);
      expect(location?.region.startLine).toBeGreaterThanOrEqual(1);
    }
    // URIs are relative to where analyze ran, with forward slashes.
    expect(
      results.find((r) => r.ruleId === "GTY0101")?.locations?.[0]?.physicalLocation.artifactLocation.uri,
    ).not.toMatch(/^\//);
  });
});
