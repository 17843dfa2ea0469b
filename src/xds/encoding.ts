// Responses are encoded once per content and shared by every stream that sends the same thing: a fleet
// subscribes alike, so a change sends the same bytes to most of its streams, and encoding them per stream
// was most of the server's CPU per push. Only the nonce differs between streams: it is encoded on its own
// and appended (protobuf fields may come in any order, and every xDS client's parser takes them so).
import { create, toBinary } from "@bufbuild/protobuf";
import type { XdsResource } from "../envoy/index.js";
import {
  DeltaDiscoveryResponseSchema,
  DiscoveryResponseSchema,
} from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { versionOfSet } from "./snapshot.js";

/** Encoded bodies kept for reuse, at most this many bytes (least recently used go first). */
export const defaultEncodingCacheBytes = 32 * 1024 * 1024;

/** A response's bytes without its nonce: the same for every stream that sends this content. */
export type SharedBody = Uint8Array;

export class ResponseEncodings {
  readonly #maxBytes: number;
  /** In use order, oldest first. */
  readonly #cache = new Map<string, SharedBody>();
  #bytes = 0;

  constructor(maxBytes: number = defaultEncodingCacheBytes) {
    this.#maxBytes = maxBytes;
  }

  /**
   * A SotW response body. `version` is the version of the whole set the client holds after it (a
   * hash of every name and version in it); `whole` says the body is that whole set, else it is the
   * part of it the client lacks.
   */
  sotw(typeUrl: string, version: string, body: readonly XdsResource[], whole: boolean): SharedBody {
    const key = `s\u0000${typeUrl}\u0000${version}\u0000${whole ? "" : versionOfSet(body)}`;
    return this.#get(key, () =>
      toBinary(
        DiscoveryResponseSchema,
        create(DiscoveryResponseSchema, {
          versionInfo: version,
          typeUrl,
          resources: body.map((resource) => ({ typeUrl: resource.typeUrl, value: resource.value })),
        }),
      ),
    );
  }

  /** A delta response body: its updates (by name and version) and removals decide its bytes. */
  delta(
    typeUrl: string,
    systemVersion: string,
    updates: readonly XdsResource[],
    removed: readonly string[],
  ): SharedBody {
    const key = `d\u0000${typeUrl}\u0000${systemVersion}\u0000${versionOfSet(updates)}\u0000${removed.join("\u0000")}`;
    return this.#get(key, () =>
      toBinary(
        DeltaDiscoveryResponseSchema,
        create(DeltaDiscoveryResponseSchema, {
          systemVersionInfo: systemVersion,
          typeUrl,
          resources: updates.map((resource) => ({
            name: resource.name,
            version: resource.version,
            resource: { typeUrl: resource.typeUrl, value: resource.value },
          })),
          removedResources: [...removed],
        }),
      ),
    );
  }

  #get(key: string, encode: () => SharedBody): SharedBody {
    const known = this.#cache.get(key);
    if (known) {
      this.#cache.delete(key);
      this.#cache.set(key, known);
      return known;
    }
    const body = encode();
    if (body.byteLength > this.#maxBytes) return body;
    this.#cache.set(key, body);
    this.#bytes += body.byteLength;
    for (const [oldKey, old] of this.#cache) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#cache.delete(oldKey);
      this.#bytes -= old.byteLength;
    }
    return body;
  }
}

/** Field 5 (`nonce`), wire type 2 (length-delimited): the nonce's tag in both response types. */
const nonceTag = (5 << 3) | 2;

/**
 * One stream's response: the shared body and its nonce, the parts of one message (joined only as
 * they are framed for the wire). The nonce field is written here rather than by protobuf-es, whose
 * writer set up for these few bytes was 10% of the server's time at 10,000 streams; the encoding
 * test decodes it with the schema.
 */
export function withNonce(body: SharedBody, nonce: string): readonly Uint8Array[] {
  const text = Buffer.from(nonce, "utf8");
  const length: number[] = [];
  for (let rest = text.byteLength; ; rest >>>= 7) {
    if (rest < 0x80) {
      length.push(rest);
      break;
    }
    length.push((rest & 0x7f) | 0x80);
  }
  const field = Buffer.allocUnsafe(1 + length.length + text.byteLength);
  field[0] = nonceTag;
  field.set(length, 1);
  field.set(text, 1 + length.length);
  return [body, field];
}
