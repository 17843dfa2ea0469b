import type { Node } from "../gen/envoy/config/core/v3/base_pb.js";

/** How a client talks to the server: aggregated (ADS) or one type per stream, SotW or delta. */
export type StreamKind = "ads-sotw" | "ads-delta" | "sotw" | "delta";

/** One open xDS stream, as the hooks see it. */
export interface StreamInfo {
  readonly id: number;
  readonly kind: StreamKind;
  readonly node: Node;
  readonly group: string;
  readonly peer: string;
  /** Clock time (ms) the stream's first request arrived. */
  readonly openedAt: number;
  /** The bearer credential of its initial metadata (`authorization: Bearer ...`), not yet verified: never log it. */
  readonly credential?: string;
}

/** One request read from a stream. */
export interface Request {
  readonly typeUrl: string;
  readonly nonce: string;
  /** The nonce is not the latest sent for its type: SotW ignores the request, delta only its ACK/NACK. */
  readonly stale: boolean;
  /** SotW: the names asked for; delta: the names subscribed. */
  readonly names: readonly string[];
  /** Delta: the names unsubscribed. */
  readonly unsubscribed: readonly string[];
}

/** One response written to a stream. */
export interface Push {
  readonly typeUrl: string;
  /** SotW: the response's version_info; delta: its system_version_info. */
  readonly version: string;
  readonly nonce: string;
  readonly resources: number;
  readonly removed: number;
  /** Clock time (ms) it was written. */
  readonly at: number;
  /** Clock time (ms) the contents it carries were published, when that happened while the stream was open. */
  readonly publishedAt: number | undefined;
  /**
   * What the client holds of this type once it ACKs, name → resource version: for SotW the whole
   * subscribed set, for delta what it held plus the updates, less the removals.
   */
  readonly holds: ReadonlyMap<string, string>;
}

/** Which resources of one type a stream subscribes to, after a request changed it. */
export interface Subscription {
  readonly typeUrl: string;
  /** Every resource of the type (SotW: no names yet, or "*"; delta: no names first, or "*"). */
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
  readonly at: number;
}

/** What a client holds without a response: a reconnecting client says so on its first request. */
export interface Held {
  readonly typeUrl: string;
  /** Name → resource version. */
  readonly holds: ReadonlyMap<string, string>;
  readonly at: number;
}

export interface Ack {
  readonly push: Push;
  /** The version the client reports applied (SotW version_info; for delta, the push's version). */
  readonly version: string;
  readonly at: number;
}

export interface Nack extends Ack {
  readonly error: string;
}

/**
 * What the protocol servers report as streams come and go and responses are answered; proxy
 * status and metrics are built on these. Hooks must not throw.
 */
export interface XdsHooks {
  onStreamOpen?(stream: StreamInfo): void;
  onStreamClose?(stream: StreamInfo): void;
  onRequest?(stream: StreamInfo, request: Request): void;
  onSubscribe?(stream: StreamInfo, subscription: Subscription): void;
  onHeld?(stream: StreamInfo, held: Held): void;
  onPush?(stream: StreamInfo, push: Push): void;
  onAck?(stream: StreamInfo, ack: Ack): void;
  onNack?(stream: StreamInfo, nack: Nack): void;
}

/** One set of hooks that calls each of `all` in turn. */
export function combineHooks(...all: XdsHooks[]): Required<XdsHooks> {
  return {
    onStreamOpen: (stream) => {
      for (const hooks of all) hooks.onStreamOpen?.(stream);
    },
    onStreamClose: (stream) => {
      for (const hooks of all) hooks.onStreamClose?.(stream);
    },
    onRequest: (stream, request) => {
      for (const hooks of all) hooks.onRequest?.(stream, request);
    },
    onSubscribe: (stream, subscription) => {
      for (const hooks of all) hooks.onSubscribe?.(stream, subscription);
    },
    onHeld: (stream, held) => {
      for (const hooks of all) hooks.onHeld?.(stream, held);
    },
    onPush: (stream, push) => {
      for (const hooks of all) hooks.onPush?.(stream, push);
    },
    onAck: (stream, ack) => {
      for (const hooks of all) hooks.onAck?.(stream, ack);
    },
    onNack: (stream, nack) => {
      for (const hooks of all) hooks.onNack?.(stream, nack);
    },
  };
}
