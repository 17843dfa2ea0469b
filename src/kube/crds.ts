// CustomResourceDefinitions made from the kinds registry: one CRD per kind, its structural OpenAPI v3
// schema read off the kind's spec message, so a kind added to src/resources/kinds.ts gets its CRD with
// no code here. Pure: scripts/crds.mjs writes the result to deploy/crds/, and a test compares.
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { stringify } from "yaml";
import { type Kind, kinds, specSchemas } from "../resources/index.js";
import { group, pluralOf, version } from "./names.js";

/** An OpenAPI v3 schema as Kubernetes takes it in a CRD (a plain JSON object). */
export type Schema = { [key: string]: unknown };

// 64-bit integers: the JSON mapping allows a number or a decimal string; the webhook checks the range.
const int64: Schema = { "x-kubernetes-int-or-string": true };
const anyJson: Schema = { "x-kubernetes-preserve-unknown-fields": true };
const anyObject: Schema = { type: "object", "x-kubernetes-preserve-unknown-fields": true };

const intRanges: Partial<Record<ScalarType, Schema>> = {
  [ScalarType.INT32]: { type: "integer", format: "int32" },
  [ScalarType.SINT32]: { type: "integer", format: "int32" },
  [ScalarType.SFIXED32]: { type: "integer", format: "int32" },
  [ScalarType.UINT32]: { type: "integer", minimum: 0, maximum: 2 ** 32 - 1 },
  [ScalarType.FIXED32]: { type: "integer", minimum: 0, maximum: 2 ** 32 - 1 },
};

function scalarSchema(type: ScalarType): Schema {
  switch (type) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return { type: "number" };
    default:
      return intRanges[type] ?? int64;
  }
}

/** The well-known types, by their JSON forms (what the loader's fromJson accepts). */
const wellKnown: Record<string, Schema> = {
  "google.protobuf.Duration": { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$" },
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.FieldMask": { type: "string" },
  "google.protobuf.Struct": anyObject,
  "google.protobuf.Any": anyObject,
  "google.protobuf.Empty": { type: "object" },
  "google.protobuf.Value": anyJson,
  "google.protobuf.ListValue": { type: "array", items: anyJson },
  "google.protobuf.BoolValue": { type: "boolean" },
  "google.protobuf.StringValue": { type: "string" },
  "google.protobuf.BytesValue": { type: "string", format: "byte" },
  "google.protobuf.DoubleValue": { type: "number" },
  "google.protobuf.FloatValue": { type: "number" },
  "google.protobuf.Int32Value": scalarSchema(ScalarType.INT32),
  "google.protobuf.UInt32Value": scalarSchema(ScalarType.UINT32),
  "google.protobuf.Int64Value": int64,
  "google.protobuf.UInt64Value": int64,
};

/**
 * A message's schema: its fields by JSON name, nothing else (structural schemas refuse unknown
 * fields, as the loader does). A message met again inside itself (Envoy's and the rate-limit
 * descriptors' trees are recursive) is left open there: a structural schema has no references, and
 * the admission webhook checks those levels with the loader itself.
 */
function messageSchema(desc: DescMessage, open: readonly string[]): Schema {
  const known = wellKnown[desc.typeName];
  if (known) return known;
  if (open.includes(desc.typeName)) return anyObject;
  const inside = [...open, desc.typeName];
  const properties: Record<string, Schema> = {};
  for (const field of desc.fields) properties[field.jsonName] = fieldSchema(field, inside);
  return desc.fields.length > 0 ? { type: "object", properties } : { type: "object" };
}

function valueSchema(field: DescField, kind: "scalar" | "enum" | "message", open: readonly string[]): Schema {
  if (kind === "message" && field.message) return messageSchema(field.message, open);
  if (kind === "enum" && field.enum) return { type: "string", enum: field.enum.values.map((v) => v.name) };
  return scalarSchema(field.scalar ?? ScalarType.STRING);
}

function fieldSchema(field: DescField, open: readonly string[]): Schema {
  switch (field.fieldKind) {
    case "list":
      return { type: "array", items: valueSchema(field, field.listKind, open) };
    case "map":
      return { type: "object", additionalProperties: valueSchema(field, field.mapKind, open) };
    default:
      return valueSchema(field, field.fieldKind, open);
  }
}

/** What Gantry writes under `status` (src/kube/status.ts). */
const statusSchema: Schema = {
  type: "object",
  properties: {
    state: { type: "string", enum: ["Accepted", "Warning", "Invalid", "Failed"] },
    policies: { type: "string" },
    conditions: {
      type: "array",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
      items: {
        type: "object",
        required: ["type", "status", "lastTransitionTime", "reason", "message"],
        properties: {
          type: { type: "string" },
          status: { type: "string", enum: ["True", "False", "Unknown"] },
          observedGeneration: { type: "integer", format: "int64", minimum: 0 },
          lastTransitionTime: { type: "string", format: "date-time" },
          reason: { type: "string" },
          message: { type: "string" },
        },
      },
    },
  },
};

/**
 * The kinds policies reach through the routes they shape, whose rows show the policies attached
 * (docs/kubernetes.md, "Columns"); on any other kind the column would always be empty.
 */
const kindsShowingPolicies: ReadonlySet<Kind> = new Set(["Gateway", "RouteTable", "Destination", "VirtualDestination"]);

function showsPolicies(kind: Kind): boolean {
  return kindsShowingPolicies.has(kind);
}

/** One kind's CustomResourceDefinition. */
export function crdOf(kind: Kind): Schema {
  const plural = pluralOf(kind);
  const columns = [
    { name: "Status", type: "string", jsonPath: ".status.state" },
    ...(showsPolicies(kind)
      ? [{ name: "Policies", type: "string", jsonPath: ".status.policies", description: "attached policies" }]
      : []),
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ];
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${group}`, labels: { "app.kubernetes.io/part-of": "gantry" } },
    spec: {
      group,
      scope: "Namespaced",
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), categories: ["gantry"] },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: columns,
          schema: {
            openAPIV3Schema: {
              description: `Gantry ${kind} (gantry/v1 ${kind}): the spec is the one a gantry/v1 file takes.`,
              type: "object",
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: messageSchema(specSchemas[kind], []),
                status: statusSchema,
              },
            },
          },
        },
      ],
    },
  };
}

/** Every kind's CRD, by the file name it is written to (`deploy/crds/<plural>.gantry.dev.yaml`). */
export function allCrds(): Array<{ kind: Kind; file: string; crd: Schema }> {
  return kinds.map((kind) => ({ kind, file: `${pluralOf(kind)}.${group}.yaml`, crd: crdOf(kind) }));
}

const header = "# Generated from proto/ by scripts/crds.mjs (src/kube/crds.ts): do not edit.\n";

/** The files of deploy/crds/, as scripts/crds.mjs writes them. */
export function crdFiles(): Array<{ file: string; text: string }> {
  return allCrds().map(({ file, crd }) => ({ file, text: header + stringify(crd, { lineWidth: 0 }) }));
}
