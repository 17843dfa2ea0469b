import { connect, type OutgoingHttpHeaders, sensitiveHeaders } from "node:http2";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DecodedHeaders, encodeHeaders, HpackDecoder, HpackError } from "../../../src/lib/h2/hpack.js";
import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES, huffmanDecode } from "../../../src/lib/h2/huffman.js";
import { waitFor } from "../../support/wait.js";

const unlimited = 1 << 20;

/** Hex as the RFC prints it: groups of digits, whitespace anywhere. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

function decodeOnce(block: Uint8Array, maxListSize = unlimited): DecodedHeaders {
  return new HpackDecoder().decode(block, maxListSize);
}

/** Huffman-codes a latin1 string with the module's code table, padding with ones. */
function huffmanEncode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let pending = 0;
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charCodeAt(i);
    const code = HUFFMAN_CODES[symbol] ?? 0;
    const length = HUFFMAN_CODE_LENGTHS[symbol] ?? 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      pending = (pending << 1) | (Math.floor(code / 2 ** bit) % 2);
      if (++bits === 8) {
        out.push(pending);
        bits = 0;
        pending = 0;
      }
    }
  }
  if (bits > 0) out.push((pending << (8 - bits)) | (0xff >> bits));
  return Buffer.from(out);
}

describe("Huffman code", () => {
  it("is rebuilt from the code lengths into the codes of RFC 7541 Appendix B", () => {
    const rfc: [symbol: number, code: number, length: number][] = [
      [0x30, 0x0, 5], // '0'
      [0x61, 0x3, 5], // 'a'
      [0x20, 0x14, 6], // ' '
      [0x2f, 0x18, 6], // '/'
      [0x3a, 0x5c, 7], // ':'
      [0x00, 0x1ff8, 13],
      [0x5c, 0x7fff0, 19], // '\'
      [0x01, 0x7fffd8, 23],
      [0xff, 0x3ffffee, 26],
      [0xfe, 0x7fffff0, 27],
      [0x7f, 0xffffffc, 28],
      [0x0a, 0x3ffffffc, 30],
      [0x16, 0x3ffffffe, 30],
      [256, 0x3fffffff, 30], // EOS
    ];
    for (const [symbol, code, length] of rfc) {
      expect([symbol, HUFFMAN_CODES[symbol], HUFFMAN_CODE_LENGTHS[symbol]]).toEqual([symbol, code, length]);
    }
    expect(HUFFMAN_CODES).toHaveLength(257);
  });

  it("decodes every octet value, in short and long strings", () => {
    let all = "";
    for (let octet = 0; octet < 256; octet++) {
      const one = String.fromCharCode(octet);
      all += one;
      const coded = huffmanEncode(one);
      expect(huffmanDecode(coded, 0, coded.length)).toBe(one);
    }
    const coded = huffmanEncode(all + all);
    expect(huffmanDecode(coded, 0, coded.length)).toBe(all + all);
  });

  it("decodes only the given range and an empty range", () => {
    const coded = Buffer.concat([Buffer.from([0xaa, 0xbb]), hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), Buffer.from([0xcc])]);
    expect(huffmanDecode(coded, 2, coded.length - 1)).toBe("www.example.com");
    expect(huffmanDecode(coded, 1, 1)).toBe("");
  });

  it("refuses padding longer than 7 bits, padding that is not all ones, and EOS", () => {
    // '0' (00000) then eleven ones.
    expect(() => huffmanDecode(Buffer.from([0x07, 0xff]), 0, 2)).toThrow(/more than 7 bits of padding/);
    expect(() => huffmanDecode(Buffer.from([0xff]), 0, 1)).toThrow(/more than 7 bits of padding/);
    // '0' then 000: the padding is not a prefix of EOS.
    expect(() => huffmanDecode(Buffer.from([0x00]), 0, 1)).toThrow(/padding that is not all ones/);
    // Thirty ones are EOS itself, whether at the start or after 'a' (00011).
    expect(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4)).toThrow(HpackError);
    expect(() => huffmanDecode(Buffer.from([0x1f, 0xff, 0xff, 0xff, 0xff]), 0, 5)).toThrow(/EOS symbol/);
  });
});

describe("RFC 7541 Appendix C", () => {
  it("C.2.1 literal field with indexing, then reused from the dynamic table", () => {
    const decoder = new HpackDecoder();
    const first = decoder.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"), unlimited);
    expect({ ...first.fields }).toEqual({ "custom-key": "custom-header" });
    expect(first.size).toBe(55);
    expect({ ...decoder.decode(hex("be"), unlimited).fields }).toEqual({ "custom-key": "custom-header" });
  });

  it("C.2.2 literal field without indexing leaves the dynamic table empty", () => {
    const decoder = new HpackDecoder();
    expect({ ...decoder.decode(hex("040c 2f73 616d 706c 652f 7061 7468"), unlimited).fields }).toEqual({
      ":path": "/sample/path",
    });
    expect(() => decoder.decode(hex("be"), unlimited)).toThrow(/beyond the 0 entries/);
  });

  it("C.2.3 literal field never indexed leaves the dynamic table empty", () => {
    const decoder = new HpackDecoder();
    expect({ ...decoder.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74"), unlimited).fields }).toEqual({
      password: "secret",
    });
    expect(() => decoder.decode(hex("be"), unlimited)).toThrow(HpackError);
  });

  it("C.2.4 indexed field", () => {
    expect({ ...decodeOnce(hex("82")).fields }).toEqual({ ":method": "GET" });
  });

  const requests = [
    { ":method": "GET", ":scheme": "http", ":path": "/", ":authority": "www.example.com" },
    {
      ":method": "GET",
      ":scheme": "http",
      ":path": "/",
      ":authority": "www.example.com",
      "cache-control": "no-cache",
    },
    {
      ":method": "GET",
      ":scheme": "https",
      ":path": "/index.html",
      ":authority": "www.example.com",
      "custom-key": "custom-value",
    },
  ];

  function expectSequence(decoder: HpackDecoder, blocks: Buffer[], lists: Record<string, string>[]): void {
    blocks.forEach((block, i) => {
      const decoded = decoder.decode(block, unlimited);
      expect({ ...decoded.fields }).toEqual(lists[i]);
      expect(Object.keys(decoded.fields)).toEqual(Object.keys(lists[i] ?? {}));
      expect(decoded.tooLarge).toBe(false);
      expect(decoded.malformed).toBeUndefined();
    });
  }

  it("C.3 requests without Huffman coding share one dynamic table", () => {
    const decoder = new HpackDecoder();
    const blocks = [
      hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
      hex("8286 84be 5808 6e6f 2d63 6163 6865"),
      hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"),
    ];
    expectSequence(decoder, blocks, requests);
    // The table now holds custom-key (62), cache-control (63) and :authority (64), and nothing more.
    expect({ ...decoder.decode(hex("bebf c0"), unlimited).fields }).toEqual({
      "custom-key": "custom-value",
      "cache-control": "no-cache",
      ":authority": "www.example.com",
    });
    expect(() => decoder.decode(hex("c1"), unlimited)).toThrow(/index 65 is beyond the 3 entries/);
  });

  it("C.4 requests with Huffman coding share one dynamic table", () => {
    const blocks = [
      hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
      hex("8286 84be 5886 a8eb 1064 9cbf"),
      hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
    ];
    expectSequence(new HpackDecoder(), blocks, requests);
  });

  const responses = [
    {
      ":status": "302",
      "cache-control": "private",
      date: "Mon, 21 Oct 2013 20:13:21 GMT",
      location: "https://www.example.com",
    },
    {
      ":status": "307",
      "cache-control": "private",
      date: "Mon, 21 Oct 2013 20:13:21 GMT",
      location: "https://www.example.com",
    },
    {
      ":status": "200",
      "cache-control": "private",
      date: "Mon, 21 Oct 2013 20:13:22 GMT",
      location: "https://www.example.com",
      "content-encoding": "gzip",
      "set-cookie": "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    },
  ];

  /** After C.5.3/C.6.3 the 256-octet table holds set-cookie, content-encoding and the newer date only. */
  function expectEvictedTable(decoder: HpackDecoder): void {
    expect({ ...decoder.decode(hex("bebf c0"), unlimited).fields }).toEqual({
      "set-cookie": "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
      "content-encoding": "gzip",
      date: "Mon, 21 Oct 2013 20:13:22 GMT",
    });
    expect(() => decoder.decode(hex("c1"), unlimited)).toThrow(/beyond the 3 entries/);
  }

  it("C.5 responses without Huffman coding evict from a 256-octet table", () => {
    const decoder = new HpackDecoder(256);
    const blocks = [
      hex(`4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
           2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
           6c65 2e63 6f6d`),
      hex("4803 3330 37c1 c0bf"),
      hex(`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
           54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
           5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
           3d31`),
    ];
    expectSequence(decoder, blocks, responses);
    expectEvictedTable(decoder);
  });

  it("C.6 responses with Huffman coding evict from a 256-octet table", () => {
    const decoder = new HpackDecoder(256);
    const blocks = [
      hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
           2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`),
      hex("4883 640e ffc1 c0bf"),
      hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
           77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
           9587 3160 65c0 03ed 4ee5 b106 3d50 07`),
    ];
    expectSequence(decoder, blocks, responses);
    expectEvictedTable(decoder);
  });
});

describe("HpackDecoder", () => {
  it("returns an object that inherits no keys and joins repeated names, cookies with '; '", () => {
    const decoded = decodeOnce(
      encodeHeaders([
        ["__proto__", "x"],
        ["accept", "a"],
        ["cookie", "a=1"],
        ["accept", "b"],
        ["cookie", "b=2"],
      ]),
    );
    const prototype = Object.getPrototypeOf(decoded.fields);
    expect(Object.getPrototypeOf(prototype)).toBeNull();
    expect(Reflect.ownKeys(prototype)).toEqual([]);
    expect(Object.isFrozen(prototype)).toBe(true);
    expect(decoded.fields["constructor"]).toBeUndefined();
    expect(decoded.fields["toString"]).toBeUndefined();
    expect(Object.entries(decoded.fields)).toContainEqual(["__proto__", "x"]);
    expect(decoded.fields["accept"]).toBe("a, b");
    expect(decoded.fields["cookie"]).toBe("a=1; b=2");
    expect(decoded.size).toBe(9 + 1 + 6 + 1 + 6 + 3 + 6 + 1 + 6 + 3 + 5 * 32);
  });

  it("accepts a Uint8Array that is not a Buffer", () => {
    const bytes = new Uint8Array([0, 0x82, 0x84, 0]).subarray(1, 3);
    expect({ ...decodeOnce(bytes).fields }).toEqual({ ":method": "GET", ":path": "/" });
  });

  it("applies dynamic table size updates at the start of a block", () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"), unlimited);
    // Shrinking to 0 evicts everything; growing again to 4096 (0x3fe11f) keeps it empty.
    expect({ ...decoder.decode(hex("20 3fe11f 82"), unlimited).fields }).toEqual({ ":method": "GET" });
    expect(() => decoder.decode(hex("be"), unlimited)).toThrow(/beyond the 0 entries/);
  });

  it("empties the table when an entry is larger than the whole table", () => {
    const decoder = new HpackDecoder(64);
    decoder.decode(hex("4001 6101 62"), unlimited); // a: b, 34 octets
    expect({ ...decoder.decode(hex("be"), unlimited).fields }).toEqual({ a: "b" });
    const big = encodeLiteralWithIndexing("big", "x".repeat(40)); // 75 octets > 64
    expect({ ...decoder.decode(big, unlimited).fields }).toEqual({ big: "x".repeat(40) });
    expect(() => decoder.decode(hex("be"), unlimited)).toThrow(/beyond the 0 entries/);
  });

  it("keeps the dynamic table in step when a list is too large", () => {
    const decoder = new HpackDecoder();
    const block = Buffer.concat([
      hex("82"),
      encodeLiteralWithIndexing("x-big", "v".repeat(100)),
      encodeLiteralWithIndexing("x-after", "w"),
    ]);
    const decoded = decoder.decode(block, 100);
    expect(decoded.tooLarge).toBe(true);
    expect({ ...decoded.fields }).toEqual({ ":method": "GET" });
    expect(decoded.size).toBe(7 + 3 + 32 + (5 + 100 + 32) + (7 + 1 + 32));
    expect({ ...decoder.decode(hex("bebf"), unlimited).fields }).toEqual({
      "x-after": "w",
      "x-big": "v".repeat(100),
    });
    expect(decoder.decode(hex("bebf"), 200).tooLarge).toBe(false);
  });

  it("names the first reason a list is malformed and still decodes all of it", () => {
    const upper = decodeOnce(Buffer.concat([hex("82"), encodeLiteral("X-Trace", "1"), encodeLiteral("bad name", "2")]));
    expect(upper.malformed).toMatch(/"X-Trace" has an uppercase character/);
    expect({ ...upper.fields }).toEqual({ ":method": "GET", "X-Trace": "1", "bad name": "2" });

    expect(decodeOnce(encodeLiteral("bad name", "2")).malformed).toMatch(/not allowed in a field name \(0x20\)/);
    expect(decodeOnce(encodeLiteral("", "2")).malformed).toBe("empty header name");
    expect(decodeOnce(encodeLiteral("x-a", "1\r\nx-b: 2")).malformed).toMatch(/x-a has a NUL, CR or LF/);

    const late = decodeOnce(
      encodeHeaders([
        [":method", "GET"],
        ["te", "trailers"],
        [":path", "/"],
      ]),
    );
    expect(late.malformed).toBe("pseudo-header :path after a regular header field");
    expect({ ...late.fields }).toEqual({ ":method": "GET", te: "trailers", ":path": "/" });

    const twice = decodeOnce(
      encodeHeaders([
        [":path", "/a"],
        [":path", "/b"],
      ]),
    );
    expect(twice.malformed).toBe("pseudo-header :path appears twice");

    const fine = decodeOnce(
      encodeHeaders([
        [":method", "POST"],
        [":path", "/a"],
        ["content-type", "application/grpc"],
      ]),
    );
    expect(fine.malformed).toBeUndefined();
  });

  it("flags an uppercase name again when it comes back from the dynamic table", () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(encodeLiteralWithIndexing("X-Up", "1"), unlimited).malformed).toMatch(/uppercase/);
    expect(decoder.decode(hex("be"), unlimited).malformed).toMatch(/uppercase/);
  });

  it.each([
    ["index 0", "80", /index 0 is not a header field/],
    ["an index past the static table with an empty dynamic table", "be", /index 62 is beyond the 0 entries/],
    ["an index far past the tables", "ff80 01", /index 255 is beyond/],
    ["a literal name index past the tables", "7f00 0161", /index 63 is beyond/],
    ["an integer cut off after its prefix", "ff", /ends inside an integer/],
    ["an integer cut off in its continuation", "ff80", /ends inside an integer/],
    ["an integer over 2^28", "ff ffff ff7f", /integer 268435582 exceeds the limit/],
    ["an integer of five continuation octets", "ff 8080 8080 00", /integer exceeds the limit/],
    ["a string length past the end", "0005 6162", /string literal of 5 octets runs past the end/],
    ["a missing string", "40", /ends before a string literal/],
    ["a missing value", "4001 61", /ends before a string literal/],
    ["Huffman padding over 7 bits", "0001 6182 07ff", /more than 7 bits of padding/],
    ["Huffman padding of zeros", "0001 6181 00", /padding that is not all ones/],
    ["EOS inside a Huffman string", "0001 6184 ffff ffff", /EOS symbol/],
    ["a table size update above SETTINGS_HEADER_TABLE_SIZE", "3fe2 1f", /update to 4097 exceeds .* 4096/],
    ["a table size update after a field", "8220", /size update after a header field/],
  ])("refuses %s", (_what, block, message) => {
    const decode = () => decodeOnce(hex(block));
    expect(decode).toThrow(HpackError);
    expect(decode).toThrow(message);
  });
});

describe("encodeHeaders", () => {
  it("sends static matches indexed and static names by index, without Huffman coding", () => {
    expect(encodeHeaders([[":status", "200"]])).toEqual(hex("88"));
    expect(encodeHeaders([["content-type", "application/grpc"]])).toEqual(
      Buffer.concat([hex("0f10 10"), Buffer.from("application/grpc")]),
    );
    expect(encodeHeaders([[":status", "503"]])).toEqual(Buffer.concat([hex("08 03"), Buffer.from("503")]));
    expect(encodeHeaders([["grpc-status", "0"]])).toEqual(
      Buffer.concat([hex("00 0b"), Buffer.from("grpc-status"), hex("01"), Buffer.from("0")]),
    );
    expect(encodeHeaders([])).toEqual(Buffer.alloc(0));
  });

  it("writes lengths over the prefix as continuation octets (RFC 7541 C.1.2)", () => {
    const value = "y".repeat(1337);
    const block = encodeHeaders([["x-long", value]]);
    // 1337 on a 7-bit prefix: 7f, then 1337 - 127 = 1210 as ba 09.
    expect(block.subarray(8, 11)).toEqual(hex("7f ba09"));
    expect(block).toHaveLength(1 + 1 + 6 + 3 + 1337);
  });

  it("round-trips through a fresh decoder", () => {
    const sent: [string, string][] = [
      [":status", "200"],
      [":status", "404"],
      ["content-type", "application/grpc+proto"],
      ["grpc-encoding", "identity"],
      ["grpc-accept-encoding", "identity,deflate,gzip"],
      ["x-latin1", "caf\u00e9 \u00ff"],
      ["x-empty", ""],
      ["x-long", "z".repeat(5000)],
      ["www-authenticate", 'Bearer realm="gantry"'],
    ];
    const decoded = decodeOnce(encodeHeaders(sent));
    expect({ ...decoded.fields }).toEqual({
      ":status": "200, 404",
      "content-type": "application/grpc+proto",
      "grpc-encoding": "identity",
      "grpc-accept-encoding": "identity,deflate,gzip",
      "x-latin1": "caf\u00e9 \u00ff",
      "x-empty": "",
      "x-long": "z".repeat(5000),
      "www-authenticate": 'Bearer realm="gantry"',
    });
    expect(decoded.malformed).toBe("pseudo-header :status appears twice");
  });

  it("refuses values with NUL, CR, LF or characters beyond latin1, and invalid names", () => {
    expect(() => encodeHeaders([["x-a", "1\r\nx-b: 2"]])).toThrow(/x-a: its value has a character not allowed \(0xd\)/);
    expect(() => encodeHeaders([["x-a", "a\nb"]])).toThrow(/0xa/);
    expect(() => encodeHeaders([["x-a", "a\0b"]])).toThrow(/0x0/);
    expect(() => encodeHeaders([["x-a", "\u2603"]])).toThrow(/0x2603/);
    expect(() => encodeHeaders([["X-A", "1"]])).toThrow(/uppercase/);
    expect(() => encodeHeaders([["x a", "1"]])).toThrow(/not allowed in a field name/);
    // A bug in the server, not a compression error from the peer.
    let thrown: unknown;
    try {
      encodeHeaders([["x-a", "1\r"]]);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).not.toBeInstanceOf(HpackError);
  });
});

describe("interop with node:http2", () => {
  /** HTTP/2 frame types and flags this capture needs (RFC 9113 §6). */
  const HEADERS = 0x1;
  const SETTINGS = 0x4;
  const CONTINUATION = 0x9;
  const END_STREAM = 0x1;
  const ACK = 0x1;
  const END_HEADERS = 0x4;
  const PADDED = 0x8;
  const PRIORITY = 0x20;

  function frame(type: number, flags: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
    const header = Buffer.alloc(9);
    header.writeUIntBE(payload.length, 0, 3);
    header[3] = type;
    header[4] = flags;
    header.writeUInt32BE(stream, 5);
    return Buffer.concat([header, payload]);
  }

  /**
   * A bare TCP server speaking just enough HTTP/2 to collect the client's header blocks in arrival order;
   * `respond` may answer a stream with a header block of its own.
   */
  class HeaderBlockCapture {
    readonly blocks: { stream: number; block: Buffer }[] = [];
    readonly server: Server;
    private readonly sockets = new Set<Socket>();
    respond: ((stream: number) => Buffer | undefined) | undefined;

    constructor() {
      this.server = createServer((socket) => this.serve(socket));
    }

    async listen(): Promise<number> {
      await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
      return (this.server.address() as AddressInfo).port;
    }

    async close(): Promise<void> {
      for (const socket of this.sockets) socket.destroy();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private serve(socket: Socket): void {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => {});
      socket.write(frame(SETTINGS, 0, 0));
      let buffered = Buffer.alloc(0);
      let prefaceSeen = false;
      let open: { stream: number; parts: Buffer[] } | undefined;
      socket.on("data", (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (!prefaceSeen) {
          if (buffered.length < 24) return;
          buffered = buffered.subarray(24);
          prefaceSeen = true;
        }
        while (buffered.length >= 9) {
          const length = buffered.readUIntBE(0, 3);
          if (buffered.length < 9 + length) break;
          const type = buffered[3];
          const flags = buffered[4] ?? 0;
          const stream = buffered.readUInt32BE(5) & 0x7fffffff;
          let payload = buffered.subarray(9, 9 + length);
          buffered = buffered.subarray(9 + length);
          if (type === SETTINGS && (flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0));
          if (type === HEADERS) {
            if (flags & PADDED) payload = payload.subarray(1, payload.length - (payload[0] ?? 0));
            if (flags & PRIORITY) payload = payload.subarray(5);
            open = { stream, parts: [payload] };
          } else if (type === CONTINUATION) {
            open?.parts.push(payload);
          }
          if ((type === HEADERS || type === CONTINUATION) && flags & END_HEADERS && open !== undefined) {
            this.blocks.push({ stream: open.stream, block: Buffer.concat(open.parts) });
            const answer = this.respond?.(open.stream);
            if (answer !== undefined) socket.write(frame(HEADERS, END_HEADERS | END_STREAM, open.stream, answer));
            open = undefined;
          }
        }
      });
    }
  }

  /** What our decoder should present for headers node:http2 sent: arrays joined, cookies with "; ". */
  function expected(headers: OutgoingHttpHeaders, authority: string): Record<string, string> {
    const out: Record<string, string> = { ":method": "GET", ":scheme": "http", ":authority": authority };
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      out[name] = Array.isArray(value) ? value.join(name === "cookie" ? "; " : ", ") : String(value);
    }
    return out;
  }

  let capture: HeaderBlockCapture;
  let port: number;

  beforeAll(async () => {
    capture = new HeaderBlockCapture();
    port = await capture.listen();
  });

  afterAll(async () => {
    await capture.close();
  });

  it("decodes the header blocks of a real HTTP/2 client, dynamic table and Huffman coding included", async () => {
    const long = `${"0123456789abcdef".repeat(100)}-end`;
    const sent: OutgoingHttpHeaders[] = [];
    for (let i = 0; i < 40; i++) {
      sent.push({
        ":path": `/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit?i=${i}`,
        "content-type": "application/grpc",
        te: "trailers",
        "user-agent": "grpc-node-js/1.14.0",
        "grpc-timeout": `${100 + i}m`,
        "x-request-id": `7f3c2a1e-0000-4000-8000-${String(i).padStart(12, "0")}`,
        "x-repeated": ["one", `two-${i % 3}`, "three"],
        cookie: ["session=abc", `n=${i}`],
        authorization: `Bearer token-${i % 2}`,
        "x-latin1": `caf\u00e9-${"\u00e9\u00fc\u00df".repeat(i % 4)}`,
        "x-long": i % 5 === 0 ? long : "short",
        [`x-custom-${i % 7}`]: `value ${i} with spaces, commas; and = signs`,
        [sensitiveHeaders]: ["authorization"],
      });
    }
    // Over the 16 KB default frame size: the block arrives as HEADERS plus CONTINUATION.
    sent.push({ ":path": "/huge", "x-huge": "h".repeat(20_000) });
    const authority = `127.0.0.1:${port}`;
    const client = connect(`http://${authority}`);
    client.on("error", () => {});
    try {
      const firstBlock = capture.blocks.length;
      for (const headers of sent) client.request(headers, { endStream: true }).on("error", () => {});
      await waitFor(() => capture.blocks.length - firstBlock >= sent.length, { what: "all header blocks" });

      const decoder = new HpackDecoder();
      const blocks = capture.blocks.slice(firstBlock);
      // The client did use Huffman coding and its dynamic table: no plain "application/grpc" anywhere, and
      // the second block is a fraction of the first.
      expect(blocks.some(({ block }) => block.includes("application/grpc"))).toBe(false);
      expect(blocks[1]?.block.length).toBeLessThan((blocks[0]?.block.length ?? 0) / 4);
      blocks.forEach(({ block }, i) => {
        const decoded = decoder.decode(block, unlimited);
        expect({ ...decoded.fields }).toEqual(expected(sent[i] ?? {}, authority));
        expect(decoded.malformed).toBeUndefined();
        expect(decoded.tooLarge).toBe(false);
      });
    } finally {
      client.destroy();
    }
  });

  it("produces blocks a real HTTP/2 client decodes", async () => {
    const answer = encodeHeaders([
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["grpc-status", "0"],
      ["grpc-message", "%E2%9C%93 done"],
      ["x-long", "q".repeat(3000)],
      ["x-latin1", "caf\u00e9"],
    ]);
    capture.respond = () => answer;
    const client = connect(`http://127.0.0.1:${port}`);
    client.on("error", () => {});
    try {
      const request = client.request({ ":path": "/answer" }, { endStream: true });
      request.on("error", () => {});
      const headers = await new Promise<Record<string, unknown>>((resolve) => request.on("response", resolve));
      expect(headers).toMatchObject({
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": "0",
        "grpc-message": "%E2%9C%93 done",
        "x-long": "q".repeat(3000),
        "x-latin1": "caf\u00e9",
      });
    } finally {
      capture.respond = undefined;
      client.destroy();
    }
  });
});

/** A literal field with incremental indexing and a new name, plain octets. */
function encodeLiteralWithIndexing(name: string, value: string): Buffer {
  const literal = encodeLiteral(name, value);
  literal[0] = 0x40;
  return literal;
}

/** A literal field without indexing and a new name, plain octets; lengths under 127. */
function encodeLiteral(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x00, name.length]),
    Buffer.from(name, "latin1"),
    Buffer.from([value.length]),
    Buffer.from(value, "latin1"),
  ]);
}
