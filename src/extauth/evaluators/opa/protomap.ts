import type { DescField, DescMessage, JsonObject, JsonValue, Message } from "@bufbuild/protobuf";
import { isScalarZeroValue } from "@bufbuild/protobuf/reflect";
import { isWrapperDesc, StructSchema } from "@bufbuild/protobuf/wkt";

/**
 * A message as the OPA-Envoy plugin turns it into policy input (its `protomap`, by protobuf reflection,
 * not proto JSON): the set fields under their JSON names; 64-bit integers and enums as numbers; every
 * message, well-known types included, as an object of its fields (a Timestamp is `{seconds, nanos}`),
 * except a Struct, which is its plain JSON object; bytes as base64. Policies written for the plugin read
 * `input.attributes.request.time.seconds` and `input.attributes.request.http.size` as numbers.
 *
 * It runs on every check of an OPA policy, so it reads protobuf-es's plain message objects directly
 * with a plan made once per message type, rather than through `reflect()`: a field is set by the same
 * rules as reflection's `isSet` (oneof case, explicit presence, or not the zero value). Generic
 * reflection cost about half of building the input (a CPU profile of bench/extauth/opa.mjs).
 */
export function protomap(schema: DescMessage, message: Message): JsonObject {
  return mapMessage(schema, message as unknown as Fields);
}

type Fields = Record<string, unknown>;

/** How to read one field: where it lives, whether it is set, and how its value becomes JSON. */
interface FieldPlan {
  readonly jsonName: string;
  readonly localName: string;
  /** The oneof's property, for a oneof member. */
  readonly oneof: string | undefined;
  /** Explicit presence: set when it holds a value of its own (proto2 defaults live on the prototype). */
  readonly explicit: boolean;
  /** For implicit presence: set when not the zero value (an empty list or map is not set). */
  readonly isSet: (value: unknown) => boolean;
  readonly convert: (value: unknown) => JsonValue;
}

const plans = new WeakMap<DescMessage, readonly FieldPlan[]>();

function planOf(desc: DescMessage): readonly FieldPlan[] {
  let plan = plans.get(desc);
  if (!plan) {
    plan = desc.fields.map(fieldPlan);
    plans.set(desc, plan);
  }
  return plan;
}

function mapMessage(desc: DescMessage, message: Fields): JsonObject {
  const out: JsonObject = {};
  for (const field of planOf(desc)) {
    let value: unknown;
    if (field.oneof !== undefined) {
      const selected = message[field.oneof] as { case: string | undefined; value?: unknown } | undefined;
      if (selected?.case !== field.localName) continue;
      value = selected.value;
    } else {
      value = message[field.localName];
      if (field.explicit ? value === undefined || !Object.hasOwn(message, field.localName) : !field.isSet(value))
        continue;
    }
    out[field.jsonName] = field.convert(value);
  }
  return out;
}

function fieldPlan(field: DescField): FieldPlan {
  const base = {
    jsonName: field.jsonName,
    localName: field.localName,
    oneof: field.oneof?.localName,
    // FeatureSet_FieldPresence.IMPLICIT is 2; lists and maps have no presence of their own.
    explicit: field.fieldKind !== "list" && field.fieldKind !== "map" && field.presence !== 2,
  };
  switch (field.fieldKind) {
    case "list": {
      const element = field.listKind === "message" ? messageValue(field.message) : scalarValue;
      return {
        ...base,
        isSet: (value) => (value as unknown[]).length > 0,
        convert: (value) => (value as unknown[]).map(element),
      };
    }
    case "map": {
      const entry = field.mapKind === "message" ? messageValue(field.message) : scalarValue;
      return {
        ...base,
        isSet: (value) => Object.keys(value as object).length > 0,
        convert: (value) => {
          const out: JsonObject = {};
          for (const [key, v] of Object.entries(value as Fields)) out[key] = entry(v);
          return out;
        },
      };
    }
    case "message":
      return { ...base, explicit: true, isSet: (value) => value !== undefined, convert: messageValue(field.message) };
    case "enum": {
      const zero = field.enum.values[0]?.number ?? 0;
      return { ...base, isSet: (value) => value !== zero, convert: scalarValue };
    }
    default: {
      const type = field.scalar;
      return { ...base, isSet: (value) => !isScalarZeroValue(type, value), convert: scalarValue };
    }
  }
}

/**
 * A message-typed value. protobuf-es holds a Struct as its JSON object and a wrapper (UInt32Value, ...)
 * as its bare value; the plugin sees a Struct as its JSON and a wrapper as the message `{value}`.
 */
function messageValue(desc: DescMessage): (value: unknown) => JsonValue {
  if (desc.typeName === StructSchema.typeName) {
    return (value) => (isMessage(value) ? mapStruct(value) : (value as JsonObject));
  }
  if (isWrapperDesc(desc)) {
    const inner = desc.fields[0] as DescField;
    return (value) => {
      if (isMessage(value)) return mapMessage(desc, value);
      return inner.fieldKind === "scalar" && isScalarZeroValue(inner.scalar, value)
        ? {}
        : { value: scalarValue(value) };
    };
  }
  return (value) => mapMessage(desc, value as Fields);
}

function isMessage(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && "$typeName" in value;
}

/** A Struct held as a message (inside an Any, say): its JSON object, as the plugin gives it. */
function mapStruct(struct: Fields): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries((struct["fields"] ?? {}) as Fields)) out[key] = valueJson(value as Fields);
  return out;
}

function valueJson(value: Fields): JsonValue {
  const kind = value["kind"] as { case: string | undefined; value?: unknown };
  switch (kind.case) {
    case "structValue":
      return mapStruct(kind.value as Fields);
    case "listValue":
      return ((kind.value as Fields)["values"] as Fields[]).map(valueJson);
    case "nullValue":
    case undefined:
      return null;
    default:
      return kind.value as JsonValue;
  }
}

function scalarValue(value: unknown): JsonValue {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return value as JsonValue;
}
