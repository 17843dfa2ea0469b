import { type DescField, type DescMessage, fromJson, type JsonValue, ScalarType } from "@bufbuild/protobuf";
import { isRedactedValue, secretFieldOf } from "./secrets.js";

/** One schema mismatch: where (keys and indexes from the document root) and what was expected. */
export interface ShapeError {
  path: (string | number)[];
  message: string;
}

// Well-known types have their own JSON forms ("5s", "1.5", {...}); protobuf-es checks those.
const wellKnown = /^google\.protobuf\./;

const intRanges: Partial<Record<ScalarType, [number, number]>> = {
  [ScalarType.INT32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.SINT32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.SFIXED32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.UINT32]: [0, 2 ** 32 - 1],
  [ScalarType.FIXED32]: [0, 2 ** 32 - 1],
  [ScalarType.INT64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [ScalarType.SINT64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [ScalarType.SFIXED64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [ScalarType.UINT64]: [0, Number.MAX_SAFE_INTEGER],
  [ScalarType.FIXED64]: [0, Number.MAX_SAFE_INTEGER],
};

/** What a value is, for a message; a secret field's value (`hidden`) is never shown, only its type. */
function describe(value: unknown, hidden: boolean): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return hidden ? `a ${typeof value}` : `${typeof value} ${JSON.stringify(value)}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkScalar(type: ScalarType, value: unknown, hidden: boolean): string | undefined {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      if (hidden && isRedactedValue(value)) {
        return "holds a redacted placeholder, not the secret (`gantry get` hides secrets unless --show-secrets)";
      }
      return typeof value === "string" ? undefined : `expected a string, got ${describe(value, hidden)} (quote it)`;
    case ScalarType.BOOL:
      return typeof value === "boolean" ? undefined : `expected true or false, got ${describe(value, hidden)}`;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return typeof value === "number" ? undefined : `expected a number, got ${describe(value, hidden)}`;
    default: {
      const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n)) return `expected an integer, got ${describe(value, hidden)}`;
      const range = intRanges[type];
      if (range && (n < range[0] || n > range[1])) {
        return `expected an integer in [${range[0]}, ${range[1]}]${hidden ? "" : `, got ${n}`}`;
      }
      return undefined;
    }
  }
}

function checkEnum(
  field: DescField,
  values: { name: string; number: number }[],
  value: unknown,
  hidden: boolean,
): string | undefined {
  if (typeof value === "string" && values.some((v) => v.name === value)) return undefined;
  if (typeof value === "number" && values.some((v) => v.number === value)) return undefined;
  return `expected one of ${values.map((v) => v.name).join(", ")} for ${field.name}, got ${describe(value, hidden)}`;
}

/**
 * Checks a JSON value against a message schema: unknown fields, wrong types, two members of one
 * oneof. Reports every problem with its path, which protobuf-es's `fromJson` (first error only,
 * no path) cannot do. Values at or under a secret field (`secretFields`) are never quoted.
 */
export function checkShape(schema: DescMessage, value: unknown, path: (string | number)[] = []): ShapeError[] {
  const errors: ShapeError[] = [];
  const visit = (desc: DescMessage, v: unknown, at: (string | number)[], hidden: boolean): void => {
    if (wellKnown.test(desc.typeName)) {
      try {
        fromJson(desc, v as JsonValue);
      } catch (error) {
        const detail = hidden ? "" : `: ${(error as Error).message}`;
        errors.push({ path: at, message: `not a valid ${desc.name}${detail}` });
      }
      return;
    }
    if (!isObject(v)) {
      errors.push({ path: at, message: `expected a mapping (${desc.name}), got ${describe(v, hidden)}` });
      return;
    }
    const seenOneofs = new Map<string, string>();
    for (const [key, item] of Object.entries(v)) {
      const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
      const here = [...at, key];
      if (!field) {
        const known = desc.fields.map((f) => f.jsonName).join(", ");
        errors.push({ path: here, message: `unknown field "${key}" in ${desc.name} (known: ${known})` });
        continue;
      }
      if (item === null) continue;
      if (field.oneof) {
        const other = seenOneofs.get(field.oneof.name);
        if (other !== undefined) {
          errors.push({ path: here, message: `only one of ${other} and ${key} may be set` });
        }
        seenOneofs.set(field.oneof.name, key);
      }
      visitField(field, item, here, hidden || secretFieldOf(desc, field) !== undefined);
    }
  };
  const visitValue = (
    field: DescField,
    kind: "scalar" | "enum" | "message",
    v: unknown,
    at: (string | number)[],
    hidden: boolean,
  ) => {
    let problem: string | undefined;
    if (kind === "message" && field.message) return visit(field.message, v, at, hidden);
    if (kind === "enum" && field.enum) problem = checkEnum(field, field.enum.values, v, hidden);
    if (kind === "scalar" && field.scalar !== undefined) problem = checkScalar(field.scalar, v, hidden);
    if (problem) errors.push({ path: at, message: problem });
  };
  const visitField = (field: DescField, v: unknown, at: (string | number)[], hidden: boolean): void => {
    switch (field.fieldKind) {
      case "list":
        if (!Array.isArray(v)) {
          errors.push({ path: at, message: `expected a list, got ${describe(v, hidden)}` });
          return;
        }
        v.forEach((item, i) => {
          visitValue(field, field.listKind, item, [...at, i], hidden);
        });
        return;
      case "map":
        if (!isObject(v)) {
          errors.push({ path: at, message: `expected a mapping, got ${describe(v, hidden)}` });
          return;
        }
        for (const [k, item] of Object.entries(v)) visitValue(field, field.mapKind, item, [...at, k], hidden);
        return;
      default:
        visitValue(field, field.fieldKind, v, at, hidden);
    }
  };
  visit(schema, value, path, false);
  return errors;
}
