import { createHash } from "node:crypto";
import type { Node } from "../gen/envoy/config/core/v3/base_pb.js";
import type { Clock } from "../lib/clock.js";
import { GrpcError, GrpcStatus } from "../lib/grpc.js";
import type { Logger } from "../lib/logger.js";
import type { PublishedSnapshot, SnapshotCache } from "./cache.js";
import type { ResponseEncodings } from "./encoding.js";
import type { Holdings } from "./holdings.js";
import type { Push, StreamInfo, StreamKind, XdsHooks } from "./hooks.js";
import type { Selections } from "./selections.js";
import type { SnapshotChanges } from "./snapshot.js";
import type { BudgetedWriter, WriteBudget } from "./write-budget.js";

/** What every protocol stream needs from the server around it. */
export interface StreamContext {
  readonly cache: SnapshotCache;
  readonly hooks: Required<XdsHooks>;
  readonly clock: Clock;
  readonly logger: Logger | undefined;
  /** SotW responses of partial types (EDS, RDS, …) carry only what changed for the client. */
  readonly partialSotwUpdates: boolean;
  /** What SotW clients hold, shared by the streams that hold the same set. */
  readonly holdings: Holdings;
  /** Name sets and what they select, shared by the streams that ask alike. */
  readonly selections: Selections;
  /** Response bodies encoded once and shared by the streams that send the same content. */
  readonly encodings: ResponseEncodings;
  /** Response bytes encoded and not yet written, across every stream. */
  readonly budget: WriteBudget;
}

/** Where a stream's encoded responses go. */
export interface StreamTransport {
  /** Writes one encoded response (its parts, joined in order); `done` once it is written out to the connection. */
  write(parts: readonly Uint8Array[], done: () => void): void;
  /** Ends the client's connection: it stopped reading what it was sent (the byte budget's stall bound). */
  drop(): void;
}

let lastStreamId = 0;

/**
 * The group of a stream that presented a credential: its own, apart from the node's group, so what is
 * published for a proven credential (a workload's SDS secrets) reaches only streams that presented it,
 * never another stream that merely claims the same node id.
 */
export function credentialGroup(group: string, credential: string): string {
  return `${group}#${createHash("sha256").update(credential).digest("hex").slice(0, 32)}`;
}

/**
 * The part of a stream both protocols share: identity from the first request, a watch on the
 * node's group, and one coalesced push pass however many requests and publishes arrive at once.
 */
export abstract class XdsStream implements BudgetedWriter {
  protected info: StreamInfo | undefined;
  readonly #id = ++lastStreamId;
  readonly #transport: StreamTransport;
  #nonces = 0;
  #unwatch: (() => void) | undefined;
  #pushScheduled = false;
  #closed = false;

  constructor(
    protected readonly context: StreamContext,
    readonly kind: StreamKind,
    readonly peer: string,
    /** Per-type services serve one type URL; ADS serves any. */
    protected readonly fixedTypeUrl: string | undefined,
    transport: StreamTransport,
    /** The bearer credential in the stream's initial metadata (a workload token), unverified. */
    readonly credential?: string,
  ) {
    this.#transport = transport;
  }

  /** Only the first request is guaranteed to carry the node, so identity is fixed by it. */
  protected open(node: Node | undefined): StreamInfo {
    if (this.info) return this.info;
    if (!node) throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "the first request on a stream must carry node");
    const base = this.context.cache.groupOf(node);
    const group = this.credential === undefined ? base : credentialGroup(base, this.credential);
    this.info = {
      id: this.#id,
      kind: this.kind,
      node,
      group,
      peer: this.peer,
      openedAt: this.context.clock.now(),
      ...(this.credential === undefined ? {} : { credential: this.credential }),
    };
    this.#unwatch = this.context.cache.watch(group, (_published, changes) => {
      // A publish tells each stream once, so its pass needs no coalescing: it runs as soon as the
      // publishing code returns, before the event loop reads more requests (a fleet's ACKs, read
      // first, held the writes back by milliseconds).
      if (changes === undefined || this.affectedBy(changes)) this.#schedule(queueMicrotask);
    });
    this.context.hooks.onStreamOpen(this.info);
    return this.info;
  }

  protected typeUrlOf(requested: string): string {
    if (this.fixedTypeUrl !== undefined) {
      if (requested !== "" && requested !== this.fixedTypeUrl) {
        throw new GrpcError(
          GrpcStatus.INVALID_ARGUMENT,
          `type_url ${requested} is not served here; this service serves ${this.fixedTypeUrl}`,
        );
      }
      return this.fixedTypeUrl;
    }
    if (requested === "") throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "type_url is empty");
    return requested;
  }

  /** Nonces only need to be unique on their own stream; the stream id keeps them apart in logs. */
  protected nextNonce(): string {
    this.#nonces += 1;
    return `${this.#id}-${this.#nonces}`;
  }

  /** After a request: on the check phase, so that the requests read in the same turn make one pass. */
  protected schedulePush(): void {
    this.#schedule(setImmediate);
  }

  /** One pass at a time: a pass already due covers what asks for another. */
  #schedule(defer: (pass: () => void) => unknown): void {
    if (this.#pushScheduled || this.#closed || !this.info) return;
    this.#pushScheduled = true;
    defer(() => {
      this.#pushScheduled = false;
      this.#pushNow();
    });
  }

  /**
   * One push pass against the snapshot of this moment, if the byte budget has room; otherwise the
   * stream waits in line and the budget resumes it (see write-budget.ts).
   */
  #pushNow(): void {
    if (this.#closed || !this.info) return;
    const published = this.context.cache.snapshot(this.info.group);
    if (!published || !this.context.budget.admit(this)) return;
    this.push(this.info, published);
  }

  resume(): void {
    this.#pushNow();
  }

  stalled(): void {
    this.context.logger?.warn(
      { node: this.info?.node.id, stream: this.#id, peer: this.peer },
      "xDS client stopped reading its responses while others waited for the byte budget: closing its connection",
    );
    this.#transport.drop();
  }

  /** Writes one encoded response (its parts), counted against the byte budget until it is written out. */
  protected write(parts: readonly Uint8Array[]): void {
    const size = parts.reduce((sum, part) => sum + part.byteLength, 0);
    this.context.budget.hold(this, size);
    this.#transport.write(parts, () => this.context.budget.written(this, size));
  }

  /**
   * When the contents a push carries were published, if that was after `since` (the type's last
   * push on this stream, or the stream's opening): only then does the push deliver a change this
   * proxy was waiting for, and its ACK measure convergence.
   */
  protected publishedAt(published: PublishedSnapshot, typeUrl: string, since: number): number | undefined {
    const at = published.changedAt.get(typeUrl);
    return at !== undefined && at >= since ? at : undefined;
  }

  protected reportPush(info: StreamInfo, push: Push): void {
    this.context.hooks.onPush(info, push);
  }

  /** Writes what changed for this client, in push order, at most one unanswered response per type. */
  protected abstract push(info: StreamInfo, published: PublishedSnapshot): void;

  /**
   * Whether a publish changed a resource this stream subscribes to (a wildcard: any of its type). A
   * stream it did not touch is not woken: in a fleet subscribing per target (Go and C-core gRPC open an
   * ADS stream per target), a change to one target's routes concerns one stream in twenty. What a
   * stream still owes its client for other reasons (new names, a NACK, clusters kept stale) is pushed
   * on the request that made it due.
   */
  protected abstract affectedBy(changes: SnapshotChanges): boolean;

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    this.context.budget.forget(this);
    if (this.info) this.context.hooks.onStreamClose(this.info);
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** Whether `changes` touch a subscription of one of `types`: a wildcard one to a changed type, or a changed name. */
export function subscriptionsTouched(
  types: ReadonlyMap<string, { readonly wildcard: boolean; readonly names: ReadonlySet<string> }>,
  changes: SnapshotChanges,
): boolean {
  for (const [typeUrl, names] of changes) {
    const state = types.get(typeUrl);
    if (!state) continue;
    if (state.wildcard) return true;
    // Iterate the smaller set: a change to one route against a stream's many names, or the reverse.
    const [few, many] = names.size <= state.names.size ? [names, state.names] : [state.names, names];
    for (const name of few) if (many.has(name)) return true;
  }
  return false;
}
