import type { JsonObject } from "@bufbuild/protobuf";
import type { Ack, Nack, Push, StreamInfo, StreamKind, XdsHooks } from "./hooks.js";

/** Where one proxy stands on one type URL. */
export interface TypeStatus {
  readonly typeUrl: string;
  /** The last response written, whether or not it was answered yet. */
  readonly sent: { readonly version: string; readonly nonce: string; readonly at: number } | undefined;
  /** The last response the proxy ACKed. */
  readonly acked: { readonly version: string; readonly nonce: string; readonly at: number } | undefined;
  /** The last NACK, kept after later ACKs so the error stays visible. */
  readonly lastNack: { readonly error: string; readonly nonce: string; readonly at: number } | undefined;
}

/** One connected proxy (one open stream). */
export interface ProxyStatus {
  readonly streamId: number;
  readonly nodeId: string;
  readonly cluster: string;
  readonly metadata: JsonObject;
  readonly group: string;
  readonly kind: StreamKind;
  readonly peer: string;
  readonly connectedAt: number;
  readonly types: readonly TypeStatus[];
}

interface Entry {
  readonly stream: StreamInfo;
  readonly metadata: JsonObject;
  readonly types: Map<string, TypeStatus>;
}

/** Keeps the status of every connected proxy from the stream hooks. */
export class ProxyStatusBoard implements XdsHooks {
  readonly #entries = new Map<number, Entry>();

  onStreamOpen(stream: StreamInfo): void {
    const metadata = stream.node.metadata ?? {};
    this.#entries.set(stream.id, { stream, metadata, types: new Map() });
  }

  onStreamClose(stream: StreamInfo): void {
    this.#entries.delete(stream.id);
  }

  onPush(stream: StreamInfo, push: Push): void {
    this.#update(stream, push.typeUrl, (s) => ({
      ...s,
      sent: { version: push.version, nonce: push.nonce, at: push.at },
    }));
  }

  onAck(stream: StreamInfo, ack: Ack): void {
    this.#update(stream, ack.push.typeUrl, (s) => ({
      ...s,
      acked: { version: ack.version, nonce: ack.push.nonce, at: ack.at },
    }));
  }

  onNack(stream: StreamInfo, nack: Nack): void {
    this.#update(stream, nack.push.typeUrl, (s) => ({
      ...s,
      lastNack: { error: nack.error, nonce: nack.push.nonce, at: nack.at },
    }));
  }

  #update(stream: StreamInfo, typeUrl: string, change: (status: TypeStatus) => TypeStatus): void {
    const entry = this.#entries.get(stream.id);
    if (!entry) return;
    const current = entry.types.get(typeUrl) ?? { typeUrl, sent: undefined, acked: undefined, lastNack: undefined };
    entry.types.set(typeUrl, change(current));
  }

  /** Every connected proxy, by node id then stream id; types in name order. */
  list(): ProxyStatus[] {
    return [...this.#entries.values()]
      .map(({ stream, metadata, types }) => ({
        streamId: stream.id,
        nodeId: stream.node.id,
        cluster: stream.node.cluster,
        metadata,
        group: stream.group,
        kind: stream.kind,
        peer: stream.peer,
        connectedAt: stream.openedAt,
        types: [...types.values()].sort((a, b) => (a.typeUrl < b.typeUrl ? -1 : 1)),
      }))
      .sort((a, b) => (a.nodeId !== b.nodeId ? (a.nodeId < b.nodeId ? -1 : 1) : a.streamId - b.streamId));
  }
}
