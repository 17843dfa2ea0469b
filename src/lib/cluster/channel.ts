import { systemClock, type Timers } from "../clock.js";
import { toErrorData, type WorkerErrorData } from "../worker-entry.js";

/** One end of a worker's IPC pipe: a cluster `Worker` in the primary, `process` in the worker. */
export interface IpcPort {
  send(message: unknown): boolean;
  on(event: "message", listener: (message: unknown) => void): unknown;
  off(event: "message", listener: (message: unknown) => void): unknown;
}

type Envelope =
  | { readonly gantry: "request"; readonly id: number; readonly type: string; readonly body: unknown }
  | { readonly gantry: "reply"; readonly id: number; readonly ok: true; readonly body: unknown }
  | { readonly gantry: "reply"; readonly id: number; readonly ok: false; readonly error: WorkerErrorData };

function isEnvelope(message: unknown): message is Envelope {
  return typeof message === "object" && message !== null && "gantry" in message;
}

/** An error thrown by the other side's handler, with its name and own fields (e.g. a config error's file and field). */
export class RemoteError extends Error {
  readonly fields: Record<string, string | number | boolean>;

  constructor(data: WorkerErrorData) {
    super(data.message);
    this.name = data.name;
    this.fields = data.fields;
    Object.assign(this, data.fields);
  }
}

/** The other side is gone (the worker exited) or did not answer in time. */
export class ChannelClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChannelClosedError";
  }
}

type Handler = (body: unknown) => unknown;

/**
 * Requests and replies over a worker's IPC pipe, by message type. Other messages on the pipe (node's
 * own, prom-client's) are left alone. Needs `serialization: "advanced"`, so Maps, bigints and bytes
 * cross as they are.
 */
export class IpcChannel {
  readonly #port: IpcPort;
  readonly #timers: Timers;
  readonly #handlers = new Map<string, Handler>();
  readonly #pending = new Map<number, { resolve(body: unknown): void; reject(err: Error): void }>();
  #nextId = 1;
  #closed: string | undefined;
  readonly #listener = (message: unknown) => this.#receive(message);

  constructor(port: IpcPort, timers: Timers = systemClock) {
    this.#port = port;
    this.#timers = timers;
    port.on("message", this.#listener);
  }

  /** Answers requests of `type` with what `handler` returns (or throws). */
  handle(type: string, handler: Handler): void {
    this.#handlers.set(type, handler);
  }

  unhandle(type: string): void {
    this.#handlers.delete(type);
  }

  /** Asks the other side; rejects with its handler's error, or ChannelClosedError when it is gone or late. */
  request<R = unknown>(type: string, body: unknown, timeoutMs: number): Promise<R> {
    if (this.#closed !== undefined) return Promise.reject(new ChannelClosedError(this.#closed));
    const id = this.#nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        this.#pending.delete(id);
        reject(new ChannelClosedError(`no answer to ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          timer.cancel();
          resolve(value as R);
        },
        reject: (err) => {
          timer.cancel();
          reject(err);
        },
      });
      this.#send({ gantry: "request", id, type, body });
    });
  }

  /** Fails every request waiting for an answer and takes no more (the worker exited). */
  close(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    this.#port.off("message", this.#listener);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const waiter of pending) waiter.reject(new ChannelClosedError(reason));
  }

  #send(envelope: Envelope): void {
    try {
      this.#port.send(envelope);
    } catch (err) {
      // The pipe closed under us: the exit handler closes the channel and fails what waits.
      if (envelope.gantry === "request") {
        this.#pending.get(envelope.id)?.reject(new ChannelClosedError(`cannot send: ${(err as Error).message}`));
        this.#pending.delete(envelope.id);
      }
    }
  }

  #receive(message: unknown): void {
    if (!isEnvelope(message)) return;
    if (message.gantry === "reply") {
      const waiter = this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id);
      if (message.ok) waiter.resolve(message.body);
      else waiter.reject(new RemoteError(message.error));
      return;
    }
    const { id, type } = message;
    const handler = this.#handlers.get(type);
    if (!handler) {
      this.#send({
        gantry: "reply",
        id,
        ok: false,
        error: { name: "Error", message: `nothing handles ${type}`, fields: {} },
      });
      return;
    }
    let result: unknown;
    try {
      result = handler(message.body);
    } catch (err) {
      this.#send({ gantry: "reply", id, ok: false, error: toErrorData(err) });
      return;
    }
    Promise.resolve(result).then(
      (body) => this.#send({ gantry: "reply", id, ok: true, body }),
      (err: unknown) => this.#send({ gantry: "reply", id, ok: false, error: toErrorData(err) }),
    );
  }
}
