import { connect, type Socket } from "node:net";
import { Flag, FrameType, frame, PREFACE, settingsFrame } from "../../../src/lib/h2/frames.js";
import { HpackDecoder } from "../../../src/lib/h2/hpack.js";
import { waitFor } from "../../support/wait.js";

/** A frame as the raw client received it. */
export interface ReceivedFrame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
  /** Decoded HEADERS (the server never splits its small header blocks). */
  headers?: Record<string, string>;
}

/**
 * An HTTP/2 client that writes frames exactly as a test builds them and records every frame it gets,
 * to send what real clients never would and to look at what the server sends back frame by frame.
 */
export class RawH2Client {
  readonly frames: ReceivedFrame[] = [];
  closed = false;
  readonly #socket: Socket;
  readonly #decoder = new HpackDecoder();
  readonly #answerPings: boolean;
  #input = Buffer.alloc(0);

  private constructor(socket: Socket, answerPings: boolean) {
    this.#socket = socket;
    this.#answerPings = answerPings;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
    });
  }

  /** Connects and sends the preface with `settings`; `answerPings: false` makes a peer that never acks a PING. */
  static async open(
    port: number,
    settings: ReadonlyArray<readonly [number, number]> = [],
    { answerPings = true }: { answerPings?: boolean } = {},
  ): Promise<RawH2Client> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const client = new RawH2Client(socket, answerPings);
    client.send(Buffer.concat([PREFACE, settingsFrame(settings)]));
    return client;
  }

  send(bytes: Buffer): void {
    this.#socket.write(bytes);
  }

  sendFrame(type: number, flags: number, id: number, payload?: Uint8Array): void {
    this.send(frame(type, flags, id, payload));
  }

  /** Waits for the first frame that matches, then returns it. */
  async waitFor(what: string, match: (frame: ReceivedFrame) => boolean): Promise<ReceivedFrame> {
    let found: ReceivedFrame | undefined;
    await waitFor(
      () => {
        found = this.frames.find(match);
        return found !== undefined;
      },
      { what },
    );
    return found as ReceivedFrame;
  }

  async waitForClose(): Promise<void> {
    await waitFor(() => this.closed, { what: "the server to close the connection" });
  }

  /** The GOAWAY the server sent: last stream id and error code. */
  async goaway(): Promise<{ lastStreamId: number; code: number; debug: string }> {
    const goaway = await this.waitFor("GOAWAY", (f) => f.type === FrameType.GOAWAY);
    return {
      lastStreamId: goaway.payload.readUInt32BE(0),
      code: goaway.payload.readUInt32BE(4),
      debug: goaway.payload.subarray(8).toString("utf8"),
    };
  }

  /** The settings the server announced in its first SETTINGS frame, by id. */
  async settings(): Promise<Map<number, number>> {
    const frame = await this.waitFor("the server's SETTINGS", (f) => f.type === FrameType.SETTINGS && f.flags === 0);
    const announced = new Map<number, number>();
    for (let at = 0; at + 6 <= frame.payload.length; at += 6) {
      announced.set(frame.payload.readUInt16BE(at), frame.payload.readUInt32BE(at + 2));
    }
    return announced;
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#input = Buffer.concat([this.#input, chunk]);
    while (this.#input.length >= 9) {
      const length = this.#input.readUIntBE(0, 3);
      if (this.#input.length < 9 + length) return;
      const type = this.#input.readUInt8(3);
      const flags = this.#input.readUInt8(4);
      const id = this.#input.readUInt32BE(5) & 0x7fffffff;
      const payload = Buffer.from(this.#input.subarray(9, 9 + length));
      this.#input = this.#input.subarray(9 + length);
      const received: ReceivedFrame = { type, flags, id, payload };
      if (type === FrameType.HEADERS) {
        if ((flags & Flag.END_HEADERS) === 0) throw new Error("the raw client does not take CONTINUATION");
        received.headers = { ...this.#decoder.decode(payload, 1 << 20).fields };
      }
      // Answer the server's SETTINGS and PINGs, as every client must.
      if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) this.sendFrame(FrameType.SETTINGS, Flag.ACK, 0);
      if (type === FrameType.PING && (flags & Flag.ACK) === 0 && this.#answerPings)
        this.sendFrame(FrameType.PING, Flag.ACK, 0, payload);
      this.frames.push(received);
    }
  }
}
