import { createRequire } from "node:module";
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { HpackDecoder, HpackError } from "../../src/lib/h2/hpack.js";
import { runs } from "./budget.js";

// hpack.js (the HPACK implementation node-spdy uses) is the independent encoder: it uses Huffman coding and the
// dynamic table, which Gantry's own encoder never does, so the decoder is tested on what real peers send.
const require = createRequire(import.meta.url);
const hpack = require("hpack.js") as {
  compressor: {
    create(options: { table: { size: number } }): {
      write(fields: Array<{ name: string; value: string; huffman: boolean; neverIndex: boolean }>): void;
      read(): Buffer | null;
    };
  };
};

// hpack.js looks names up in a plain object, so it encodes names such as "constructor" as a bogus table index:
// those names are left to Gantry's own tests.
const token = fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,20}$/).filter((name) => !(name in Object.prototype));
const value = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);
const field = fc.record({ name: token, value, huffman: fc.boolean(), neverIndex: fc.boolean() });

describe("HPACK decoder (fuzz)", () => {
  test.prop([fc.array(fc.array(field, { maxLength: 12 }), { minLength: 1, maxLength: 6 })], { numRuns: runs(300) })(
    "decodes what an independent encoder sends, block after block, dynamic table and Huffman included",
    (blocks) => {
      const encoder = hpack.compressor.create({ table: { size: 4096 } });
      const decoder = new HpackDecoder(4096);
      for (const fields of blocks) {
        encoder.write(fields);
        const chunks: Buffer[] = [];
        for (let c = encoder.read(); c !== null; c = encoder.read()) chunks.push(c);
        const decoded = decoder.decode(Buffer.concat(chunks), 1 << 20);
        const expected: Record<string, string> = {};
        for (const { name, value: v } of fields) {
          expected[name] = name in expected ? `${expected[name]}${name === "cookie" ? "; " : ", "}${v}` : v;
        }
        expect({ ...decoded.fields }).toEqual(expected);
        expect(decoded.tooLarge).toBe(false);
      }
    },
  );

  test.prop([fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 })], { numRuns: runs(2000) })(
    "answers arbitrary bytes with fields or an HpackError, nothing else",
    (blocks) => {
      const decoder = new HpackDecoder(4096);
      for (const block of blocks) {
        try {
          const decoded = decoder.decode(block, 8192);
          for (const [k, v] of Object.entries(decoded.fields)) {
            expect(typeof k).toBe("string");
            expect(typeof v).toBe("string");
          }
          expect(decoded.size).toBeGreaterThanOrEqual(0);
        } catch (err) {
          expect(err).toBeInstanceOf(HpackError);
          return; // the connection ends on COMPRESSION_ERROR: no later block is decoded
        }
      }
    },
  );

  test.prop([fc.array(field, { minLength: 1, maxLength: 40 }), fc.integer({ min: 64, max: 2048 })], {
    numRuns: runs(300),
  })("keeps a header list within the limit it is given and says when it dropped fields", (fields, limit) => {
    const encoder = hpack.compressor.create({ table: { size: 4096 } });
    encoder.write(fields);
    const chunks: Buffer[] = [];
    for (let c = encoder.read(); c !== null; c = encoder.read()) chunks.push(c);
    const decoded = new HpackDecoder(4096).decode(Buffer.concat(chunks), limit);
    const size = fields.reduce((sum, f) => sum + f.name.length + f.value.length + 32, 0);
    expect(decoded.tooLarge).toBe(size > limit);
    const kept = Object.entries(decoded.fields).reduce((sum, [k, v]) => sum + k.length + v.length + 32, 0);
    if (!decoded.tooLarge) expect(decoded.size).toBe(size);
    else expect(kept).toBeLessThanOrEqual(limit);
  });
});
