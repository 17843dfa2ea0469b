import { TypeUrl, type XdsResource } from "../envoy/index.js";
import type { Logger } from "../lib/logger.js";
import type { StreamInfo, XdsHooks } from "../xds/index.js";
import type { AttestationError } from "./attestor.js";
import type { WorkloadIssuer, WorkloadWatch } from "./issuer.js";
import { trustBundleSecretName, workloadSecretName, workloadSecrets } from "./sds.js";

/** Where a proxy's own secrets go: the Publisher's per-group resources. */
export interface OwnResources {
  setOwnResources(group: string, resources: readonly XdsResource[] | undefined): void;
}

/**
 * SDS for workloads, as xDS hooks: a stream that presents a workload token (`authorization: Bearer`
 * in its initial metadata) gets, once the token is proven, the secrets `default` and `ROOTCA` in its
 * own group, pushed again on every rotation. A stream without a valid token gets no secret: asking for
 * one is logged and counted.
 */
export class WorkloadSds implements XdsHooks {
  readonly #issuer: WorkloadIssuer;
  readonly #publisher: OwnResources;
  readonly #logger: Logger | undefined;
  /** Per stream group: its open streams and the watch on its workload's certificate. */
  readonly #groups = new Map<string, { streams: number; watch: Promise<WorkloadWatch | undefined> }>();
  /** Streams already told they get no secret, so each says it once. */
  readonly #warned = new Set<number>();

  constructor(options: { issuer: WorkloadIssuer; publisher: OwnResources; logger?: Logger | undefined }) {
    this.#issuer = options.issuer;
    this.#publisher = options.publisher;
    this.#logger = options.logger;
  }

  onStreamOpen(stream: StreamInfo): void {
    const credential = stream.credential;
    if (credential === undefined) return;
    const known = this.#groups.get(stream.group);
    if (known) {
      known.streams += 1;
      return;
    }
    const watch = this.#issuer
      .watch(
        credential,
        (certificate) => {
          if (this.#groups.has(stream.group))
            this.#publisher.setOwnResources(stream.group, workloadSecrets(certificate));
        },
        (err) => this.#refused(stream, err),
      )
      .catch((err: AttestationError) => {
        this.#refused(stream, err);
        return undefined;
      });
    this.#groups.set(stream.group, { streams: 1, watch });
  }

  onStreamClose(stream: StreamInfo): void {
    this.#warned.delete(stream.id);
    const known = this.#groups.get(stream.group);
    if (!known) return;
    known.streams -= 1;
    if (known.streams > 0) return;
    this.#groups.delete(stream.group);
    void known.watch.then((w) => w?.stop());
  }

  onSubscribe(stream: StreamInfo, subscription: { typeUrl: string; names: ReadonlySet<string> }): void {
    if (subscription.typeUrl !== TypeUrl.secret || stream.credential !== undefined) return;
    if (!subscription.names.has(workloadSecretName) && !subscription.names.has(trustBundleSecretName)) return;
    if (this.#warned.has(stream.id)) return;
    this.#warned.add(stream.id);
    this.#issuer.refusedWithoutCredential();
    this.#logger?.warn(
      { node: stream.node.id, peer: stream.peer },
      "proxy asks for workload secrets without a workload token (authorization: Bearer in its xDS initial metadata): it gets none",
    );
  }

  #refused(stream: StreamInfo, err: AttestationError): void {
    this.#logger?.warn(
      { node: stream.node.id, peer: stream.peer, reason: err.reason, err: err.message },
      "workload token refused: the proxy gets no secret",
    );
  }
}
