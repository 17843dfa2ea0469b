import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { kinds, specSchemas } from "../../src/resources/index.js";
import { codeSpans, parseMarkdown, readDoc } from "./markdown.js";

/**
 * docs/resources.md's table of kinds and the protos agree: every user-facing field of a kind's spec
 * (its own `gantry.*` messages, recursively) is named in the kind's row, and every field name the row
 * spells in code exists in the kind's schema (through any message, Envoy's included).
 */

/** The kinds whose fields another page documents: the row only points there. */
const documentedElsewhere: Record<string, string> = {
  AuthConfig: "docs/extauth.md (proto/gantry/extauth/v1/auth_config.proto)",
};

function messageOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  if (field.fieldKind === "map" && field.mapKind === "message") return field.message;
  return undefined;
}

/** The fields of a message and, when `follow` takes a message, of its fields' messages too, with the message each is in. */
function fieldsOf(
  schema: DescMessage,
  follow: (m: DescMessage) => boolean,
  seen = new Set<string>(),
): Array<{ message: string; name: string }> {
  if (seen.has(schema.typeName)) return [];
  seen.add(schema.typeName);
  const fields: Array<{ message: string; name: string }> = [];
  for (const field of schema.fields) {
    fields.push({ message: schema.typeName, name: field.jsonName });
    const nested = messageOf(field);
    if (nested && follow(nested)) fields.push(...fieldsOf(nested, follow, seen));
  }
  return fields;
}

const fieldNames = (schema: DescMessage, follow: (m: DescMessage) => boolean) =>
  new Set(fieldsOf(schema, follow).map((f) => f.name));

/**
 * Messages every kind shares (proto/gantry/v1/common.proto), documented once below the table:
 * references, label selectors, and the policies' `applyToRoutes` / `applyToDestinations` targets.
 */
const sharedMessages = new Set([
  "gantry.v1.ObjectRef",
  "gantry.v1.LabelSelector",
  "gantry.v1.RouteTarget",
  "gantry.v1.DestinationTarget",
]);

/** Every policy kind's targets, documented once under "Policies". */
const policyTargets = new Set(["applyToRoutes", "applyToDestinations"]);

const ownMessage = (m: DescMessage) => m.typeName.startsWith("gantry.");
const anyMessage = (m: DescMessage) => !m.typeName.startsWith("google.protobuf.");

const doc = readDoc("docs/resources.md");
const table = parseMarkdown("docs/resources.md", doc).tables.find((t) => t.header[0] === "kind");
const rows = new Map((table?.rows ?? []).map((r) => [(r[0] ?? "").replaceAll("`", ""), r[1] ?? ""]));

/** A word of the row as a whole word (`port` is not found inside `ports`). */
const names = (text: string, word: string) => new RegExp(`(^|[^A-Za-z0-9])${word}([^A-Za-z0-9]|$)`).test(text);

describe("docs/resources.md documents every kind's fields", () => {
  it("has one row per kind, and no row for a kind that does not exist", () => {
    expect([...rows.keys()].sort()).toEqual([...kinds].sort());
  });

  it.each(kinds.filter((k) => !(k in documentedElsewhere)).map((k) => [k]))("%s: every field is named", (kind) => {
    const row = rows.get(kind) ?? "";
    const missing = fieldsOf(specSchemas[kind], ownMessage)
      .filter((f) => !names(sharedMessages.has(f.message) || policyTargets.has(f.name) ? doc : row, f.name))
      .map((f) => `${f.message}.${f.name}`);
    expect([...new Set(missing)]).toEqual([]);
  });

  it.each(kinds.filter((k) => !(k in documentedElsewhere)).map((k) => [k]))("%s: every field named exists", (kind) => {
    const row = rows.get(kind) ?? "";
    const known = fieldNames(specSchemas[kind], anyMessage);
    // Remarks in parentheses are prose ("(default the port number)", "(a route's own `forwardTo.timeout` wins)").
    let remarksOut = row;
    for (let before = ""; before !== remarksOut; ) {
      before = remarksOut;
      remarksOut = remarksOut.replace(/\([^()]*\)/g, "");
    }
    const spelled = codeSpans(remarksOut)
      .flatMap((span) => span.match(/[A-Za-z][A-Za-z0-9]*/g) ?? [])
      // Values and prose rather than fields: enum names (upper case), a proto package, "true", "one of … or …".
      .filter((w) => /^[a-z]/.test(w) && !/^(ratelimit|config|v3|true|false|one|of|and|or)$/.test(w));
    expect(spelled.filter((w) => !known.has(w))).toEqual([]);
  });
});
