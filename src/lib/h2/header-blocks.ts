import { ConnectionError, DEFAULT_MAX_FRAME_SIZE, ErrorCode, Flag } from "./frames.js";
import { type DecodedHeaders, HpackDecoder, HpackError } from "./hpack.js";

// HPACK glue: a header block arrives in a HEADERS frame and maybe CONTINUATION frames (RFC 9113 §4.3,
// §6.10); it is decoded, in order, by the connection's one HPACK decoder, within the header list limit.

/** More CONTINUATION frames than this for one header block is a flood, whatever their size. */
const maxContinuations = 64;

/** A header block that spans frames, as it was started by its HEADERS frame. */
export interface OpenBlock {
  readonly id: number;
  /** The HEADERS frame's flags (END_STREAM is what matters once the block ends). */
  readonly flags: number;
  readonly selfDependent: boolean;
  /** HEADERS on a stream we reset: decoded to keep HPACK in step, then dropped. */
  readonly discard: boolean;
  readonly fragments: Buffer[];
  bytes: number;
}

export class HeaderBlocks {
  readonly #decoder = new HpackDecoder(4096);
  readonly #maxHeaderList: number;
  #open: OpenBlock | undefined;

  constructor(maxHeaderList: number) {
    this.#maxHeaderList = maxHeaderList;
  }

  /** A block is waiting for CONTINUATION: any other frame now is a protocol error. */
  get open(): boolean {
    return this.#open !== undefined;
  }

  /**
   * A HEADERS frame without END_HEADERS: its fragment is kept until the block ends, copied, so that it
   * does not hold whole socket chunks.
   */
  start(id: number, flags: number, fragment: Buffer, selfDependent: boolean, discard: boolean): void {
    this.#open = { id, flags, selfDependent, discard, fragments: [Buffer.from(fragment)], bytes: fragment.length };
  }

  /** A CONTINUATION frame; returns the block with its bytes once END_HEADERS ends it. */
  continue(id: number, flags: number, payload: Buffer): { block: OpenBlock; bytes: Buffer } | undefined {
    const block = this.#open;
    if (!block || block.id !== id) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block to continue");
    }
    block.fragments.push(Buffer.from(payload));
    block.bytes += payload.length;
    // An encoded block far beyond the decoded limit, or in very many pieces, is a flood, not a request
    // (RFC 9113 §10.5.1).
    if (block.bytes > this.#maxHeaderList * 2 + DEFAULT_MAX_FRAME_SIZE || block.fragments.length > maxContinuations) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    }
    if ((flags & Flag.END_HEADERS) === 0) return undefined;
    this.#open = undefined;
    return { block, bytes: Buffer.concat(block.fragments, block.bytes) };
  }

  /** Decodes a whole block; a decoding error leaves HPACK out of step, so it ends the connection. */
  decode(bytes: Buffer): DecodedHeaders {
    try {
      return this.#decoder.decode(bytes, this.#maxHeaderList);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
  }
}
