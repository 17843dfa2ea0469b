import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFileRegistry, type DescEnum, type DescField, type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { file_ratelimit_config_ratelimit_v3_rls_conf as gantryFile } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { envoyRateLimitConfigProto, envoyRateLimitSource } from "../support/peers.js";

const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
/** Gantry's own extensions take numbers from here up, which envoyproxy/ratelimit skips as unknown. */
const firstExtensionNumber = 100;
const source = envoyRateLimitSource();

/** envoyproxy/ratelimit's rls_conf.proto, compiled by buf from its module in the Go module cache. */
function anchorFile() {
  const proto = envoyRateLimitConfigProto(source as string);
  // The import root: the folder above ratelimit/config/ratelimit/v3/.
  const root = join(dirname(proto), "../../../..");
  const out = mkdtempSync(join(tmpdir(), "gantry-rls-conf-"));
  try {
    execFileSync(buf, ["build", root, "--path", proto, "-o", join(out, "set.binpb")]);
    const set = fromBinary(FileDescriptorSetSchema, readFileSync(join(out, "set.binpb")));
    const file = createFileRegistry(set).getFile("ratelimit/config/ratelimit/v3/rls_conf.proto");
    if (!file) throw new Error("buf's output lacks ratelimit/config/ratelimit/v3/rls_conf.proto");
    return file;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function fieldShape(field: DescField): string {
  const type =
    field.fieldKind === "message"
      ? field.message.typeName
      : field.fieldKind === "enum"
        ? field.enum.typeName
        : field.fieldKind === "list"
          ? `list<${field.listKind === "scalar" ? field.scalar : field.listKind === "enum" ? field.enum.typeName : field.message.typeName}>`
          : field.fieldKind === "map"
            ? "map"
            : String(field.scalar);
  return `${field.name} = ${field.number} (${type})`;
}

/** Fields (or enum values) below the extension range, by number, as "name = number (type)". */
function messageShape(message: DescMessage): string[] {
  return message.fields.filter((f) => f.number < firstExtensionNumber).map(fieldShape);
}

function enumShape(desc: DescEnum): string[] {
  return desc.values.filter((v) => v.number < firstExtensionNumber).map((v) => `${v.name} = ${v.number}`);
}

describe.skipIf(!source)("rls_conf.proto: the same numbers as envoyproxy/ratelimit's own proto", () => {
  it("has every message, field and enum value of the anchor with its name, number and type, and nothing else below 100", () => {
    const anchor = anchorFile();
    expect(gantryFile.proto.package).toBe(anchor.proto.package);
    for (const message of anchor.messages) {
      const ours = gantryFile.messages.find((m) => m.typeName === message.typeName);
      expect(ours, message.typeName).toBeDefined();
      expect(messageShape(ours as DescMessage).sort(), message.typeName).toEqual(messageShape(message).sort());
    }
    for (const anchorEnum of anchor.enums) {
      const ours = gantryFile.enums.find((e) => e.typeName === anchorEnum.typeName);
      expect(ours, anchorEnum.typeName).toBeDefined();
      expect(enumShape(ours as DescEnum).sort(), anchorEnum.typeName).toEqual(enumShape(anchorEnum).sort());
    }
  });
});
