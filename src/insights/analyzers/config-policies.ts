// Policy and status analyzers: policies selecting nothing (GTY0102), policies losing a route to
// another policy holding the same thing (GTY0104), resources translation refused (GTY0109), costly regexes (GTY0105).
// The first two read the statuses normalize writes: it is where selectors are evaluated, and the
// tests of this module run the real translation, so a changed message fails them.
import { re2Problem } from "../../lib/re2.js";
import { parseRefKey, type Resource, refOf } from "../../resources/index.js";
import { State } from "../../translate/index.js";
import type { Finding } from "../types.js";
import type { ConfigInput } from "./config-input.js";

const selectsNothing = /^selects no routes$|applies nowhere$/;
// Another policy of the kind is named by kind (`a RateLimitPolicy`), one of another kind by its key.
const conflict = /^route (.+) already has (?:a (\w+)|(\w+)\/([^/ ]+\/[^/ ]+)) applied; this one is not applied there$/;

export function policyFindings(input: ConfigInput): Finding[] {
  const out: Finding[] = [];
  for (const [key, status] of input.statuses) {
    const target = parseRefKey(key);
    const name = `${target.namespace}/${target.name}`;
    for (const message of status.messages) {
      if (selectsNothing.test(message)) {
        out.push({
          code: "GTY0102",
          targets: [target],
          args: { kind: target.kind, name },
          evidence: { status: message },
        });
        continue;
      }
      const match = conflict.exec(message);
      if (match) {
        const route = match[1] ?? "";
        const holder = match[2] ? `another ${match[2]}` : `${match[3]} ${match[4]}`;
        out.push({
          code: "GTY0104",
          targets: [target],
          subject: route,
          args: { kind: target.kind, name, route, holder },
          evidence: { status: message },
        });
      }
    }
  }
  return out;
}

export function refusedResources(input: ConfigInput): Finding[] {
  const out: Finding[] = [];
  for (const [key, status] of input.statuses) {
    if (status.state !== State.INVALID && status.state !== State.FAILED) continue;
    const target = parseRefKey(key);
    out.push({
      code: "GTY0109",
      targets: [target],
      args: {
        kind: target.kind,
        name: `${target.namespace}/${target.name}`,
        state: State[status.state] ?? "INVALID",
        message: status.messages[0] ?? "",
      },
      evidence: { messages: status.messages.join("\n") },
    });
  }
  return out;
}

/** Envoy refuses programs over 100; over half of that is worth a look. */
const costlyProgramSize = 50;
const longPattern = 256;

/** Why a valid RE2 pattern is costly to run per request, or undefined. Invalid patterns are GTY0109's. */
export function costlyRegexReason(pattern: string): string | undefined {
  if (re2Problem(pattern) !== undefined) return undefined;
  if (pattern.length > longPattern) return `it is ${pattern.length} characters long`;
  if (re2Problem(pattern, costlyProgramSize) !== undefined) {
    return `its compiled program is over ${costlyProgramSize} instructions (Envoy refuses over 100)`;
  }
  if (/\([^()]*[+*][^()]*\)[+*{]/.test(pattern)) return "it nests repetitions";
  if (/^\^?(\(\?[a-z]+\))?\.[*+]./.test(pattern)) return "it starts with a wildcard, so every position is tried";
  return undefined;
}

/** Every regex a resource holds, with its field. */
function regexesOf(resource: Resource): { field: string; pattern: string }[] {
  const out: { field: string; pattern: string }[] = [];
  if (resource.kind === "RouteTable") {
    resource.spec.http.forEach((route, i) => {
      route.matchers.forEach((m, j) => {
        const at = `spec.http[${i}].matchers[${j}]`;
        if (m.path.case === "regex") out.push({ field: `${at}.regex`, pattern: m.path.value });
        m.headers.forEach((h, k) => {
          if (h.regex && h.value) out.push({ field: `${at}.headers[${k}].value`, pattern: h.value });
        });
        m.queryParams.forEach((q, k) => {
          if (q.regex && q.value) out.push({ field: `${at}.queryParams[${k}].value`, pattern: q.value });
        });
      });
    });
  } else if (resource.kind === "CORSPolicy") {
    for (const [i, pattern] of resource.spec.allowOriginRegexes.entries()) {
      out.push({ field: `spec.allowOriginRegexes[${i}]`, pattern });
    }
  }
  return out;
}

export function costlyRegexes(input: ConfigInput): Finding[] {
  const out: Finding[] = [];
  for (const resource of input.resources) {
    const self = refOf(resource);
    for (const { field, pattern } of regexesOf(resource)) {
      const reason = costlyRegexReason(pattern);
      if (!reason) continue;
      out.push({
        code: "GTY0105",
        targets: [self],
        subject: field,
        args: { field: `${resource.kind} ${self.namespace}/${self.name} ${field}`, reason },
        evidence: { pattern },
      });
    }
  }
  return out;
}
