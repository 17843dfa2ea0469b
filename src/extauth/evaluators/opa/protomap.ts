import type { DescField, DescMessage, JsonObject, JsonValue, Message } from "@bufbuild/protobuf";
import { toJson } from "@bufbuild/protobuf";
import { isReflectMessage, type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { StructSchema } from "@bufbuild/protobuf/wkt";

/**
 * A message as the OPA-Envoy plugin turns it into policy input (its `protomap`, by protobuf reflection,
 * not proto JSON): the set fields under their JSON names; 64-bit integers and enums as numbers; every
 * message, well-known types included, as an object of its fields (a Timestamp is `{seconds, nanos}`),
 * except a Struct, which is its plain JSON object; bytes as base64. Policies written for the plugin read
 * `input.attributes.request.time.seconds` and `input.attributes.request.http.size` as numbers.
 */
export function protomap(schema: DescMessage, message: Message): JsonObject {
  return fields(reflect(schema, message));
}

function fields(message: ReflectMessage): JsonObject {
  if (message.desc.typeName === StructSchema.typeName) return toJson(StructSchema, message.message as never);
  const out: JsonObject = {};
  for (const field of message.fields) {
    if (!message.isSet(field)) continue;
    out[field.jsonName] = fieldValue(field, message.get(field));
  }
  return out;
}

function fieldValue(field: DescField, value: unknown): JsonValue {
  switch (field.fieldKind) {
    case "list":
      return [...(value as Iterable<unknown>)].map(single);
    case "map": {
      const out: JsonObject = {};
      for (const [key, entry] of value as Iterable<[unknown, unknown]>) out[String(key)] = single(entry);
      return out;
    }
    default:
      return single(value);
  }
}

function single(value: unknown): JsonValue {
  if (isReflectMessage(value)) return fields(value);
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return value as JsonValue;
}
