// The static Huffman code of HPACK (RFC 7541 Appendix B). The code is canonical, so the bit length of each
// symbol's code is all it takes to rebuild it: codes are handed out in order of length, then symbol value.
// Decoding walks a 4-bit-at-a-time state machine built once from those lengths; no code is shorter than
// 5 bits, so one nibble completes at most one symbol.

/** A header block that cannot be decompressed; the connection answers with a COMPRESSION_ERROR. */
export class HpackError extends Error {
  override name = "HpackError";
}

/** Code length in bits of symbols 0..255, then EOS (256). */
// biome-ignore format: sixteen symbols a row, as in the RFC's table
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 0x20 ' '..'/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 0x30 '0'..'?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 0x40 '@'..'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 0x50 'P'..'_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 0x60 '`'..'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 0x70 'p'..DEL
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
  30, // EOS
];

const EOS = 256;

/** Each symbol's code, right-aligned, as the RFC prints it in its "code as hex" column. */
export const HUFFMAN_CODES: readonly number[] = assignCanonicalCodes(CODE_LENGTHS);
/** Each symbol's code length in bits. */
export const HUFFMAN_CODE_LENGTHS: readonly number[] = CODE_LENGTHS;

function assignCanonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((_, symbol) => symbol);
  order.sort((a, b) => (lengths[a] ?? 0) - (lengths[b] ?? 0) || a - b);
  const codes = new Array<number>(lengths.length).fill(0);
  let code = 0;
  let length = 0;
  for (const symbol of order) {
    const symbolLength = lengths[symbol] ?? 0;
    code *= 2 ** (symbolLength - length);
    length = symbolLength;
    codes[symbol] = code;
    code += 1;
  }
  return codes;
}

// The code tree: internal nodes 0..255 (0 is the root), the child of node n on bit b at [2n + b]; a child is
// an internal node (>= 0) or a leaf holding symbol s as -(s + 1).
const INTERNAL_NODES = 256;
const UNSET = INTERNAL_NODES;
const children = new Int32Array(INTERNAL_NODES * 2).fill(UNSET);
const depth = new Uint8Array(INTERNAL_NODES);
const allOnes = new Uint8Array(INTERNAL_NODES);

function buildTree(): void {
  allOnes[0] = 1;
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const length = CODE_LENGTHS[symbol] ?? 0;
    const code = HUFFMAN_CODES[symbol] ?? 0;
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) % 2;
      if (i === 0) {
        children[2 * node + bit] = -(symbol + 1);
        break;
      }
      let next = children[2 * node + bit] ?? UNSET;
      if (next === UNSET) {
        next = nodes++;
        children[2 * node + bit] = next;
        depth[next] = (depth[node] ?? 0) + 1;
        allOnes[next] = (allOnes[node] ?? 0) & bit;
      }
      node = next;
    }
  }
  // A complete prefix code has exactly one fewer internal node than leaves and no empty branch.
  if (nodes !== INTERNAL_NODES || children.includes(UNSET)) {
    throw new Error("HPACK Huffman code lengths do not form a complete prefix code");
  }
}

// One transition per (state, nibble): bits 0..7 the next state, 8..15 the symbol completed, EMITS when
// one was, HITS_EOS when the nibble runs into EOS.
const EMITS = 1 << 16;
const HITS_EOS = 1 << 17;
const transitions = new Uint32Array(INTERNAL_NODES * 16);

// Whether a string may end in a state: padding must be the leading bits of EOS (all ones) and under 8 bits.
const END_OK = 0;
const END_NOT_EOS_PREFIX = 1;
const END_TOO_LONG = 2;
const endVerdict = new Uint8Array(INTERNAL_NODES);

function verdictAt(state: number): number {
  if (state === 0) return END_OK;
  if (allOnes[state] !== 1) return END_NOT_EOS_PREFIX;
  return (depth[state] ?? 0) > 7 ? END_TOO_LONG : END_OK;
}

function buildTransitions(): void {
  for (let state = 0; state < INTERNAL_NODES; state++) {
    endVerdict[state] = verdictAt(state);
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const child = children[2 * node + ((nibble >> i) & 1)] ?? UNSET;
        if (child >= 0) {
          node = child;
          continue;
        }
        const symbol = -child - 1;
        if (symbol === EOS) {
          entry = HITS_EOS;
          break;
        }
        entry = EMITS | (symbol << 8);
        node = 0;
      }
      transitions[state * 16 + nibble] = entry | node;
    }
  }
}

buildTree();
buildTransitions();

// Decoded octets land here before becoming a string; grown on demand, never shrunk.
let scratch = Buffer.allocUnsafe(256);

/**
 * Decodes the Huffman-coded string in `bytes[start..end)`. Each octet becomes one character (latin1):
 * header values are octets, not UTF-8 text.
 */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number): string {
  // The shortest code is 5 bits, so n input octets yield at most 8n/5 symbols.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const octet = bytes[i] ?? 0;
    let entry = transitions[(state << 4) | (octet >> 4)] ?? HITS_EOS;
    if (entry & EMITS) out[n++] = (entry >> 8) & 0xff;
    else if (entry & HITS_EOS) throw new HpackError("Huffman-coded string contains the EOS symbol");
    state = entry & 0xff;
    entry = transitions[(state << 4) | (octet & 0xf)] ?? HITS_EOS;
    if (entry & EMITS) out[n++] = (entry >> 8) & 0xff;
    else if (entry & HITS_EOS) throw new HpackError("Huffman-coded string contains the EOS symbol");
    state = entry & 0xff;
  }
  const verdict = endVerdict[state];
  if (verdict === END_NOT_EOS_PREFIX) throw new HpackError("Huffman-coded string ends in padding that is not all ones");
  if (verdict === END_TOO_LONG) throw new HpackError("Huffman-coded string ends in more than 7 bits of padding");
  return out.toString("latin1", 0, n);
}
