import { promisify } from "node:util";
import { gunzip, inflate } from "node:zlib";
import {
  clone,
  create,
  createFileRegistry,
  type DescFile,
  type DescMessage,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { GrpcStatus } from "../grpc.js";
import { CallFailure } from "./status.js";

// gRPC's length-prefixed messages (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a compressed flag, a
// 4-byte length and the protobuf bytes; gzip and deflate requests are inflated within the size limit.

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

/** The 5-byte prefix and the message, in one buffer. */
export function frameMessage(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.byteLength);
  out[0] = 0;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

/**
 * A response a handler encoded itself (a hand-written encoder on a hot path); the server frames and
 * sends the bytes as they are. The schema only types it: `O` is the method's output.
 */
export class EncodedMessage<O extends DescMessage> {
  constructor(
    readonly schema: O,
    readonly bytes: Uint8Array,
  ) {}
}

/** Responses encoded once and answered many times (see `encodeOnce`), by message object. */
const encodedOnce = new WeakMap<object, Buffer>();

/**
 * Encodes `message` now and marks it so the HTTP/2 server sends those bytes whenever a handler returns
 * this very object: for answers that repeat (a cached verdict), encoding is then paid once. The message
 * is frozen; it must not be changed afterwards (nested values are the caller's to leave alone).
 */
export function encodeOnce<O extends DescMessage>(schema: O, message: MessageShape<O>): MessageShape<O> {
  if (!encodedOnce.has(message)) encodedOnce.set(message, frameMessage(toBinary(schema, message)));
  Object.freeze(message);
  return message;
}

/** A handler's answer (a message, its init shape, bytes it encoded, or a message encoded once), framed. */
export function encodeResponse(schema: DescMessage, value: unknown): Buffer {
  if (value instanceof EncodedMessage) return frameMessage(value.bytes);
  const known = typeof value === "object" && value !== null ? encodedOnce.get(value) : undefined;
  if (known) return known;
  const message = isMessage(value, schema) ? value : create(schema, value as MessageInitShape<DescMessage>);
  return frameMessage(toBinary(schema, message));
}

/**
 * The one request message of a unary or server-streaming call, from the whole request body; a promise
 * only when it must be decompressed. Throws (or rejects with) a CallFailure.
 */
export function readRequest(
  body: Buffer,
  encoding: string,
  input: DescMessage,
  path: string,
  maxBytes: number,
): unknown {
  if (body.length < 5) throw new CallFailure(GrpcStatus.INTERNAL, "the request has no complete message");
  const compressed = body[0];
  const length = body.readUInt32BE(1);
  if (compressed !== 0 && compressed !== 1) throw new CallFailure(GrpcStatus.INTERNAL, "malformed message frame");
  if (length > maxBytes) throw new CallFailure(GrpcStatus.RESOURCE_EXHAUSTED, `request larger than ${maxBytes} bytes`);
  if (body.length < 5 + length) throw new CallFailure(GrpcStatus.INTERNAL, "the request message is truncated");
  if (body.length > 5 + length) {
    throw new CallFailure(GrpcStatus.INTERNAL, `${path} takes one request message, more were sent`);
  }
  const payload = body.subarray(5);
  if (compressed === 0) return parseMessage(input, payload);
  if (encoding === "identity") {
    throw new CallFailure(GrpcStatus.INTERNAL, "a compressed message arrived without a grpc-encoding");
  }
  const options = { maxOutputLength: maxBytes };
  return (encoding === "gzip" ? gunzipAsync(payload, options) : inflateAsync(payload, options)).then(
    (inflated) => parseMessage(input, inflated),
    (err: unknown) => {
      const tooBig = (err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE";
      throw new CallFailure(
        tooBig ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL,
        tooBig ? `request larger than ${maxBytes} bytes` : `cannot decompress the ${encoding} request`,
      );
    },
  );
}

function parseMessage(input: DescMessage, payload: Uint8Array): unknown {
  try {
    return fromBinary(input, payload);
  } catch {
    throw new CallFailure(GrpcStatus.INVALID_ARGUMENT, `the request is not a valid ${input.typeName}`);
  }
}

/** Copies of request schemas that read strings without checking their UTF-8, by original schema. */
const lenientCopies = new WeakMap<DescMessage, DescMessage>();

/**
 * A copy of `schema` (and of every message it reaches) whose string fields are read without checking
 * their UTF-8: a malformed sequence becomes U+FFFD instead of failing the whole message. For requests a
 * peer may send with bytes that are not UTF-8 in string fields (Envoy's CheckRequest: header values and
 * the body, when its sanitizer is off), where an answer matters more than the proto3 rule. The copy
 * decodes into the same message shapes (same type names); only decoding differs.
 */
export function withoutUtf8Checks(schema: DescMessage): DescMessage {
  const known = lenientCopies.get(schema);
  if (known) return known;
  // Every file the schema reaches, each after the files it imports.
  const files = new Map<string, DescFile>();
  const collect = (file: DescFile): void => {
    if (files.has(file.proto.name)) return;
    for (const dependency of file.dependencies) collect(dependency);
    files.set(file.proto.name, file);
  };
  collect(schema.file);
  // A registry built from the descriptor protos holds fresh descriptors, not the generated ones. Generated
  // files leave out imports that only bring options (validate, udpa annotations): so do the copies.
  const protos = [...files.values()].map((file) => {
    const proto = clone(FileDescriptorProtoSchema, file.proto);
    proto.dependency = proto.dependency.filter((dependency) => files.has(dependency));
    proto.publicDependency = [];
    proto.weakDependency = [];
    return proto;
  });
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: protos }));
  for (const type of registry) {
    if (type.kind !== "message") continue;
    for (const field of type.fields) (field as { utf8Validation: boolean }).utf8Validation = false;
  }
  const copy = registry.getMessage(schema.typeName);
  if (!copy) throw new Error(`${schema.typeName}: not found in its own file`);
  lenientCopies.set(schema, copy);
  return copy;
}
