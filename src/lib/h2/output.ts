import type { Socket } from "node:net";

/** Output the peer has not read yet beyond which the connection stops reading its requests. */
const writeHighWater = 1024 * 1024;

/** Why a connection is not reading its socket: its peer is not reading answers, or the server's byte budget is spent. */
export type ReadPause = "output" | "budget";

/**
 * What a connection sends, gathered so that everything sent in one event-loop turn leaves in one socket
 * write. While input is being processed (`holding`) frames only gather: the input handler flushes when it
 * is done. Answers that come later (after a Redis reply) are gathered until the event loop's check phase.
 */
export class Output {
  /** Set while a chunk of input is processed; its caller flushes after. */
  holding = false;
  readonly #socket: Socket;
  #chunks: Buffer[] = [];
  #scheduled = false;
  readonly #paused = new Set<ReadPause>();
  readonly #flushLater = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("drain", () => this.#onDrain());
  }

  push(bytes: Buffer): void {
    this.#chunks.push(bytes);
    if (this.holding || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushLater);
  }

  flush(): void {
    const chunks = this.#chunks;
    if (chunks.length === 0) return;
    this.#chunks = [];
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    socket.write(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    // The peer is not reading its answers; stop reading its requests until it does.
    if (socket.writableLength > writeHighWater) this.pauseReading("output");
  }

  /** Stops reading the socket for `reason`; reading resumes once no reason is left. */
  pauseReading(reason: ReadPause): void {
    if (this.#paused.size === 0) this.#socket.pause();
    this.#paused.add(reason);
  }

  resumeReading(reason: ReadPause): void {
    if (!this.#paused.delete(reason) || this.#paused.size > 0) return;
    this.#socket.resume();
  }

  #onDrain(): void {
    this.resumeReading("output");
  }
}
