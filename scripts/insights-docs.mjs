// Writes the table of insight codes into docs/insights.md from the registry (src/insights/codes.ts),
// between its markers. Reads the built registry: run `npm run build` first.
// `node scripts/insights-docs.mjs --check` only says whether the file is in step (exit 1 if not).
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../docs/insights.md", import.meta.url);
const { withCodes } = await import(new URL("../dist/insights/docs.js", import.meta.url).href);
const before = readFileSync(file, "utf8");
const after = withCodes(before);
if (process.argv.includes("--check")) {
  if (after !== before) {
    process.stderr.write(
      "docs/insights.md is out of step with src/insights/codes.ts: run `node scripts/insights-docs.mjs`\n",
    );
    process.exit(1);
  }
} else if (after !== before) {
  writeFileSync(file, after);
  process.stdout.write("docs/insights.md: codes rewritten\n");
}
