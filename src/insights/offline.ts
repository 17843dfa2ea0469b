// `gantry analyze`: the configuration and certificate analyzers over resource files, without a
// server. Each finding is located at the file and line of its primary target.
import { type LoadResult, refKey, resourceKey } from "../resources/index.js";
import { analyzeCertificates, servedCertificates } from "./analyzers/certificates.js";
import { analyzeConfig } from "./analyzers/config.js";
import { translateForAnalysis } from "./analyzers/config-input.js";
import { codeInfo } from "./codes.js";
import type { Located } from "./sarif.js";
import { type Severity, targetKey } from "./types.js";

/** Findings over what was loaded, located; `relative` turns a file path into the one reported. */
export async function analyzeFiles(
  loaded: LoadResult,
  now: number,
  relative: (file: string) => string = (f) => f,
): Promise<Located[]> {
  const where = new Map<string, { file: string; line: number }>();
  for (const r of loaded.resources)
    if (r.source) where.set(resourceKey(r), { file: relative(r.source.file), line: r.source.line });
  for (const r of loaded.rejected) if (r.ref) where.set(refKey(r.ref), { file: relative(r.file), line: r.line });
  const input = translateForAnalysis(loaded.resources, loaded.rejected);
  const findings = [...analyzeConfig(input), ...(await analyzeCertificates(servedCertificates(loaded.resources), now))];
  const located: Located[] = findings.map((finding) => {
    const primary = finding.targets[0];
    const location = primary && where.get(refKey(primary));
    return location ? { finding, location } : { finding };
  });
  // A document that never named itself (bad YAML, no kind) has no resource to carry a status.
  for (const r of loaded.rejected) {
    if (r.ref) continue;
    const file = relative(r.file);
    located.push({
      finding: {
        code: "GTY0109",
        targets: [{ kind: "File", namespace: "", name: file }],
        subject: String(r.line),
        args: { kind: "document in", name: `${file}:${r.line}`, state: "INVALID", message: r.errors[0] ?? "" },
        evidence: { messages: r.errors.join("\n") },
      },
      location: { file, line: r.line },
    });
  }
  const rank: Record<Severity, number> = { ERROR: 0, WARNING: 1, INFO: 2 };
  return located.sort(
    (a, b) =>
      rank[codeInfo(a.finding.code).severity] - rank[codeInfo(b.finding.code).severity] ||
      (a.location?.file ?? "").localeCompare(b.location?.file ?? "") ||
      (a.location?.line ?? 0) - (b.location?.line ?? 0) ||
      a.finding.code.localeCompare(b.finding.code) ||
      targetKey(a.finding.targets[0] ?? { kind: "", namespace: "", name: "" }).localeCompare(
        targetKey(b.finding.targets[0] ?? { kind: "", namespace: "", name: "" }),
      ),
  );
}
