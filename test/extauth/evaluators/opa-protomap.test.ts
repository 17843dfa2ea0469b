// The policy input's protomap reads protobuf-es messages directly (it runs on every OPA check). Its
// oracle here is the same mapping made through protobuf-es reflection, as it was written before.
import {
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  type JsonObject,
  type JsonValue,
  type Message,
  toBinary,
} from "@bufbuild/protobuf";
import { isReflectMessage, type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { anyPack, StructSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { protomap } from "../../../src/extauth/evaluators/opa/protomap.js";
import { SocketAddress_Protocol } from "../../../src/gen/envoy/config/core/v3/address_pb.js";
import { CheckRequestSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";

function byReflection(schema: DescMessage, message: Message): JsonObject {
  return fields(reflect(schema, message));
}
function fields(message: ReflectMessage): JsonObject {
  if (message.desc.typeName === StructSchema.typeName) {
    return JSON.parse(JSON.stringify(message.message, (k, v) => (k === "$typeName" ? undefined : v))) as JsonObject;
  }
  const out: JsonObject = {};
  for (const field of message.fields)
    if (message.isSet(field)) out[field.jsonName] = fieldValue(field, message.get(field));
  return out;
}
function fieldValue(field: DescField, value: unknown): JsonValue {
  if (field.fieldKind === "list") return [...(value as Iterable<unknown>)].map(single);
  if (field.fieldKind === "map") {
    const out: JsonObject = {};
    for (const [key, entry] of value as Iterable<[unknown, unknown]>) out[String(key)] = single(entry);
    return out;
  }
  return single(value);
}
function single(value: unknown): JsonValue {
  if (isReflectMessage(value)) {
    if (value.desc.typeName === StructSchema.typeName) return structJson(value.message);
    return fields(value);
  }
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return value as JsonValue;
}
function structJson(struct: Message): JsonObject {
  // reflect() boxes a Struct field back into a message; its JSON is what the plugin gives.
  const asJson = (v: { kind: { case?: string; value?: unknown } }): JsonValue =>
    v.kind.case === "structValue"
      ? structJson(v.kind.value as Message)
      : v.kind.case === "listValue"
        ? (v.kind.value as { values: Array<{ kind: { case?: string; value?: unknown } }> }).values.map(asJson)
        : v.kind.case === "nullValue" || v.kind.case === undefined
          ? null
          : (v.kind.value as JsonValue);
  const out: JsonObject = {};
  for (const [k, v] of Object.entries((struct as unknown as { fields: Record<string, never> }).fields))
    out[k] = asJson(v);
  return out;
}

const rich = () =>
  create(CheckRequestSchema, {
    attributes: {
      source: {
        address: {
          address: {
            case: "socketAddress",
            value: {
              address: "10.0.0.7",
              portSpecifier: { case: "portValue", value: 51234 },
              protocol: SocketAddress_Protocol.TCP,
            },
          },
        },
        principal: "spiffe://gantry.local/ns/shop/sa/web",
        labels: { app: "web" },
      },
      destination: {
        address: {
          address: {
            case: "socketAddress",
            value: {
              address: "10.0.0.8",
              portSpecifier: { case: "portValue", value: 0 },
              protocol: SocketAddress_Protocol.UDP,
            },
          },
        },
      },
      request: {
        time: create(TimestampSchema, { seconds: 1_800_000_000n, nanos: 0 }),
        http: {
          id: "17",
          method: "POST",
          headers: { ":path": "/a/b?c=1", "content-type": "application/json" },
          path: "/a/b?c=1",
          host: "shop.example.com",
          size: 12n,
          body: '{"n":1}',
          rawBody: new Uint8Array([0, 255, 7]),
        },
      },
      contextExtensions: { config_id: "policies/opa" },
      metadataContext: {
        filterMetadata: {
          "envoy.filters.http.jwt_authn": { sub: "alice", groups: ["a", "b"], nested: { ok: true, n: null } },
        },
        typedFilterMetadata: { x: anyPack(TimestampSchema, create(TimestampSchema, { seconds: 5n })) },
      },
    },
  });

describe("the OPA policy input's protomap", () => {
  it("maps a rich CheckRequest exactly as reflection does (oneofs, zero values, bigints, bytes, maps, Struct, Any)", () => {
    const request = rich();
    const direct = protomap(CheckRequestSchema, request);
    expect(direct).toEqual(byReflection(CheckRequestSchema, request));
    // The implicit zero enum (TCP) is left out, as the plugin leaves it; a oneof member set to 0 is kept.
    const attributes = direct["attributes"] as JsonObject;
    expect(JSON.stringify(attributes["source"])).not.toContain("protocol");
    expect(JSON.stringify(attributes["destination"])).toContain('"protocol":1');
    expect(JSON.stringify(attributes["destination"])).toContain('"portValue":0');
  });

  it("maps a decoded request (fields set on the wire, defaults on the prototype) as reflection does", () => {
    const request = fromBinary(CheckRequestSchema, toBinary(CheckRequestSchema, rich()));
    expect(protomap(CheckRequestSchema, request)).toEqual(byReflection(CheckRequestSchema, request));
    expect(protomap(CheckRequestSchema, create(CheckRequestSchema))).toEqual({});
  });

  test.prop([
    fc.record({
      method: fc.constantFrom("", "GET", "POST"),
      headers: fc.dictionary(fc.stringMatching(/^[a-z-]{1,8}$/), fc.string({ maxLength: 8 })),
      size: fc.bigInt({ min: 0n, max: 2n ** 40n }),
      port: fc.integer({ min: 0, max: 65535 }),
      principal: fc.string({ maxLength: 6 }),
      ext: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 })),
      meta: fc.option(
        fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v === "object" && v !== null && !Array.isArray(v)),
      ),
    }),
  ])("agrees with reflection on generated requests", ({ method, headers, size, port, principal, ext, meta }) => {
    const request = create(CheckRequestSchema, {
      attributes: {
        source: {
          principal,
          address: {
            address: {
              case: "socketAddress",
              value: { address: "1.2.3.4", portSpecifier: { case: "portValue", value: port } },
            },
          },
        },
        request: { http: { method, headers, size } },
        contextExtensions: ext,
        ...(meta ? { metadataContext: { filterMetadata: { m: meta as JsonObject } } } : {}),
      },
    });
    const decoded = fromBinary(CheckRequestSchema, toBinary(CheckRequestSchema, request));
    expect(protomap(CheckRequestSchema, decoded)).toEqual(byReflection(CheckRequestSchema, decoded));
  });
});
