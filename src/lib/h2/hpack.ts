// HPACK (RFC 7541) for the hand-written HTTP/2 server: a decoder for request header blocks, which come from
// untrusted peers on every call, and an encoder for the few response header sets the server sends, which
// never touches the dynamic table. Over 400 lines on purpose: the static table (61 entries) is most of it.
import { HpackError, huffmanDecode } from "./huffman.js";

export { HpackError };

/** RFC 7541 Appendix A, index 1..61 (slot 0 is unused so that an index reads straight through). */
// biome-ignore format: one entry a line, as in the RFC's table
const STATIC_TABLE: readonly (readonly [name: string, value: string])[] = [
  ["", ""],
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

const STATIC_COUNT = STATIC_TABLE.length - 1;
const STATIC_NAMES = STATIC_TABLE.map(([name]) => name);
const STATIC_VALUES = STATIC_TABLE.map(([, value]) => value);

/** Per RFC 7541 §4.1, each table entry costs its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32;

/** Larger integers are refused: no header block this server accepts comes near, and 2^28 stays a small int. */
const MAX_INTEGER = 2 ** 28;

// RFC 9113 §8.2.1: a field name must not hold control characters, space, uppercase letters, DEL or octets
// above 0x7f; a colon only as the first character of a pseudo-header.
const NAME_CHAR_OK = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) NAME_CHAR_OK[c] = c >= 0x41 && c <= 0x5a ? 0 : 1;
NAME_CHAR_OK[0x3a] = 0;

const EMPTY = Buffer.alloc(0);

// The prototype of every `fields` object: empty and frozen, with no prototype itself, so no key is inherited,
// as with Object.create(null). Object.create(null) objects start in V8's dictionary mode; these stay in fast
// mode, which measured about a quarter off decoding a typical gRPC request block.
const NO_INHERITED_KEYS: object = Object.freeze(Object.create(null));

/** One decoded header block. */
export interface DecodedHeaders {
  /**
   * Lowercase names as sent, in an object that inherits no keys. A repeated name has its values joined with ", "
   * (with "; " for `cookie`, RFC 9113 §8.2.3), the way node:http2 presents them.
   */
  readonly fields: Record<string, string>;
  /** The header list size (RFC 9113 §6.5.2): each field's name and value octets plus 32, over all fields. */
  readonly size: number;
  /** The size passed the limit: `fields` holds only the fields before that point; the rest were decoded and dropped. */
  readonly tooLarge: boolean;
  /**
   * The first reason the list is not a valid HTTP/2 request (a bad name character, a pseudo-header after a
   * regular field or twice, NUL/CR/LF in a value); the stream is malformed, the connection is fine.
   */
  readonly malformed: string | undefined;
}

/**
 * Decodes the header blocks of one connection, in order: the dynamic table carries over from block to block.
 * An `HpackError` leaves the table out of step with the peer, so the connection must end with COMPRESSION_ERROR.
 */
export class HpackDecoder {
  /** The limit the peer's encoder agreed to (our SETTINGS_HEADER_TABLE_SIZE). */
  private readonly maxTableSize: number;
  /** The limit the encoder chose with its last dynamic table size update. */
  private tableLimit: number;
  private tableSize = 0;
  // The dynamic table as a ring: `newest` is the slot of index 62, older entries follow it around the ring.
  private readonly names: string[];
  private readonly values: string[];
  private readonly mask: number;
  private newest = 0;
  private count = 0;
  // The block being decoded and the read position in it; the block is dropped once decode() returns.
  private block: Buffer = EMPTY;
  private pos = 0;

  constructor(maxTableSize = 4096) {
    this.maxTableSize = maxTableSize;
    this.tableLimit = maxTableSize;
    // No entry is smaller than 32 octets, which bounds how many the table can hold at once.
    let capacity = 1;
    while (capacity < maxTableSize / ENTRY_OVERHEAD) capacity *= 2;
    this.names = new Array<string>(capacity).fill("");
    this.values = new Array<string>(capacity).fill("");
    this.mask = capacity - 1;
  }

  /** Decodes a complete header block (a HEADERS payload with its CONTINUATIONs, padding and priority removed). */
  decode(block: Uint8Array, maxListSize: number): DecodedHeaders {
    this.block = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.pos = 0;
    const fields: Record<string, string> = Object.create(NO_INHERITED_KEYS);
    let size = 0;
    let tooLarge = false;
    let malformed: string | undefined;
    let sawRegular = false;
    let sawField = false;
    try {
      const end = this.block.length;
      while (this.pos < end) {
        const first = this.block[this.pos] ?? 0;
        let name: string;
        let value: string;
        let fromStatic = false;
        if (first & 0x80) {
          // Indexed field (§6.1).
          const index = this.readInteger(7);
          fromStatic = index <= STATIC_COUNT;
          name = this.nameAt(index);
          value = this.valueAt(index);
        } else if ((first & 0xe0) === 0x20) {
          // Dynamic table size update (§6.3): only before the first field of a block (§4.2).
          if (sawField) throw new HpackError("dynamic table size update after a header field in the same block");
          const limit = this.readInteger(5);
          if (limit > this.maxTableSize) {
            throw new HpackError(
              `dynamic table size update to ${limit} exceeds SETTINGS_HEADER_TABLE_SIZE ${this.maxTableSize}`,
            );
          }
          this.tableLimit = limit;
          this.evictTo(limit);
          continue;
        } else {
          // Literal with incremental indexing (01xxxxxx, 6-bit index), without indexing (0000xxxx) or never
          // indexed (0001xxxx), both with a 4-bit index (§6.2).
          const indexing = (first & 0x40) !== 0;
          const index = this.readInteger(indexing ? 6 : 4);
          if (index === 0) {
            name = this.readString();
          } else {
            fromStatic = index <= STATIC_COUNT;
            name = this.nameAt(index);
          }
          value = this.readString();
          if (indexing) this.insert(name, value);
        }
        sawField = true;

        size += name.length + value.length + ENTRY_OVERHEAD;
        if (tooLarge) continue;
        if (size > maxListSize) {
          tooLarge = true;
          continue;
        }
        if (malformed === undefined) {
          if (!fromStatic) malformed = nameProblem(name);
          if (malformed === undefined) {
            if (name.charCodeAt(0) === 0x3a) {
              if (sawRegular) malformed = `pseudo-header ${name} after a regular header field`;
              else if (fields[name] !== undefined) malformed = `pseudo-header ${name} appears twice`;
            } else {
              sawRegular = true;
            }
          }
          if (malformed === undefined && hasForbiddenValueChar(value)) {
            malformed = `header ${name} has a NUL, CR or LF in its value`;
          }
        }
        const earlier = fields[name];
        fields[name] = earlier === undefined ? value : `${earlier}${name === "cookie" ? "; " : ", "}${value}`;
      }
    } finally {
      this.block = EMPTY;
    }
    return { fields, size, tooLarge, malformed };
  }

  /** Reads an integer with an N-bit prefix (§5.1), starting at the current octet. */
  private readInteger(prefixBits: number): number {
    const block = this.block;
    const prefixMax = (1 << prefixBits) - 1;
    let value = (block[this.pos++] ?? 0) & prefixMax;
    if (value < prefixMax) return value;
    // Four continuation octets carry 28 bits; a fifth is never needed below MAX_INTEGER.
    for (let shift = 0; shift <= 21; shift += 7) {
      if (this.pos >= block.length) throw new HpackError("header block ends inside an integer");
      const octet = block[this.pos++] ?? 0;
      value += (octet & 0x7f) * 2 ** shift;
      if ((octet & 0x80) === 0) {
        if (value > MAX_INTEGER) throw new HpackError(`integer ${value} exceeds the limit of ${MAX_INTEGER}`);
        return value;
      }
    }
    throw new HpackError(`integer exceeds the limit of ${MAX_INTEGER}`);
  }

  /** Reads a string literal (§5.2), Huffman-coded or not, as latin1 (one character per octet). */
  private readString(): string {
    const block = this.block;
    if (this.pos >= block.length) throw new HpackError("header block ends before a string literal");
    const huffman = ((block[this.pos] ?? 0) & 0x80) !== 0;
    const length = this.readInteger(7);
    const start = this.pos;
    if (length > block.length - start) {
      throw new HpackError(`string literal of ${length} octets runs past the end of the header block`);
    }
    this.pos = start + length;
    return huffman ? huffmanDecode(block, start, start + length) : block.toString("latin1", start, start + length);
  }

  private nameAt(index: number): string {
    if (index === 0) throw new HpackError("index 0 is not a header field");
    if (index <= STATIC_COUNT) return STATIC_NAMES[index] ?? "";
    return this.names[this.dynamicSlot(index)] ?? "";
  }

  private valueAt(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_VALUES[index] ?? "";
    return this.values[this.dynamicSlot(index)] ?? "";
  }

  private dynamicSlot(index: number): number {
    const age = index - STATIC_COUNT - 1;
    if (age >= this.count) {
      throw new HpackError(`index ${index} is beyond the ${this.count} entries of the dynamic table`);
    }
    return (this.newest + age) & this.mask;
  }

  /** Adds an entry (§4.4): older entries make room first; one larger than the whole table just empties it. */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.tableLimit) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.tableLimit - entrySize);
    this.newest = (this.newest - 1) & this.mask;
    this.names[this.newest] = name;
    this.values[this.newest] = value;
    this.count++;
    this.tableSize += entrySize;
  }

  /** Evicts the oldest entries until the table holds at most `limit` octets. */
  private evictTo(limit: number): void {
    while (this.tableSize > limit) {
      const oldest = (this.newest + this.count - 1) & this.mask;
      this.tableSize -= (this.names[oldest] ?? "").length + (this.values[oldest] ?? "").length + ENTRY_OVERHEAD;
      this.names[oldest] = "";
      this.values[oldest] = "";
      this.count--;
    }
  }
}

function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "empty header name";
  for (let i = name.charCodeAt(0) === 0x3a ? 1 : 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (NAME_CHAR_OK[c] !== 1) {
      return c >= 0x41 && c <= 0x5a
        ? `header name ${JSON.stringify(name)} has an uppercase character`
        : `header name ${JSON.stringify(name)} has a character not allowed in a field name (0x${c.toString(16)})`;
    }
  }
  return undefined;
}

function hasForbiddenValueChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) return true;
  }
  return false;
}

// Encoder side: exact (name, value) matches are sent as indexed fields, known names by their index.
const STATIC_EXACT = new Map<string, Map<string, number>>();
const STATIC_NAME_INDEX = new Map<string, number>();
for (let index = 1; index <= STATIC_COUNT; index++) {
  const name = STATIC_NAMES[index] ?? "";
  const value = STATIC_VALUES[index] ?? "";
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, index);
  let byValue = STATIC_EXACT.get(name);
  if (byValue === undefined) {
    byValue = new Map();
    STATIC_EXACT.set(name, byValue);
  }
  byValue.set(value, index);
}

// Encoded blocks are built here, then copied out at their exact size.
let encodeScratch = Buffer.allocUnsafe(1024);

/**
 * Encodes a response header list: static (name, value) matches as indexed fields, everything else as literals
 * without indexing (by static name index where there is one), plain octets without Huffman coding. The dynamic
 * table is never used, so any peer decoder state stays empty. Names must be valid lowercase field names and
 * values latin1 without NUL, CR or LF; anything else is a bug in the caller and throws.
 */
export function encodeHeaders(fields: Iterable<readonly [string, string]>): Buffer {
  let out = encodeScratch;
  let pos = 0;
  for (const [name, value] of fields) {
    const problem = nameProblem(name);
    if (problem !== undefined) throw new Error(`cannot encode header: ${problem}`);
    checkEncodableValue(name, value);
    const exact = STATIC_EXACT.get(name)?.get(value);
    // Worst case: two integers of up to 6 octets each, the name and the value.
    const most = 12 + name.length + value.length;
    if (out.length - pos < most) {
      const grown = Buffer.allocUnsafe(Math.max(out.length * 2, pos + most));
      out.copy(grown, 0, 0, pos);
      out = grown;
      encodeScratch = grown;
    }
    if (exact !== undefined) {
      pos = writeInteger(out, pos, exact, 7, 0x80);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex === undefined) {
      out[pos++] = 0x00;
      pos = writeString(out, pos, name);
    } else {
      pos = writeInteger(out, pos, nameIndex, 4, 0x00);
    }
    pos = writeString(out, pos, value);
  }
  return Buffer.from(out.subarray(0, pos));
}

function checkEncodableValue(name: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d || c > 0xff) {
      throw new Error(`cannot encode header ${name}: its value has a character not allowed (0x${c.toString(16)})`);
    }
  }
}

/** Writes an integer with an N-bit prefix (§5.1); `flags` are the bits above the prefix in the first octet. */
function writeInteger(out: Buffer, pos: number, value: number, prefixBits: number, flags: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | prefixMax;
  let rest = value - prefixMax;
  while (rest >= 0x80) {
    out[pos++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[pos++] = rest;
  return pos;
}

/** Writes a string literal (§5.2) without Huffman coding. */
function writeString(out: Buffer, pos: number, s: string): number {
  const start = writeInteger(out, pos, s.length, 7, 0x00);
  return start + out.write(s, start, "latin1");
}
