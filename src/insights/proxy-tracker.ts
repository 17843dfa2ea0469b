// Which proxies are connected (with their user agent and version) and which left, from the xDS
// stream hooks. The ACK ledger knows open streams only; a proxy that went away is what matters here.
import type { Clock } from "../lib/clock.js";
import type { StreamInfo, XdsHooks } from "../xds/index.js";
import type { ConnectedProxy, DepartedProxy } from "./analyzers/proxies.js";

/** How many departed proxies are remembered; the oldest go first (a fleet scaled down at once). */
const maxDeparted = 10_000;

function versionOf(stream: StreamInfo): string {
  const v = stream.node.userAgentVersionType;
  if (v.case === "userAgentVersion") return v.value;
  if (v.case === "userAgentBuildVersion") {
    const semver = v.value.version;
    return semver ? `${semver.majorNumber}.${semver.minorNumber}.${semver.patch}` : "";
  }
  return "";
}

export class ProxyTracker implements XdsHooks {
  readonly #streams = new Map<string, Map<number, ConnectedProxy>>();
  readonly #departed = new Map<string, DepartedProxy>();

  constructor(
    private readonly clock: Clock,
    /** Called after each change (to analyze again). */
    private readonly onChange: () => void = () => {},
  ) {}

  onStreamOpen(stream: StreamInfo): void {
    const nodeId = stream.node.id;
    const streams = this.#streams.get(nodeId) ?? new Map<number, ConnectedProxy>();
    streams.set(stream.id, { nodeId, userAgent: stream.node.userAgentName, version: versionOf(stream) });
    this.#streams.set(nodeId, streams);
    this.#departed.delete(nodeId);
    this.onChange();
  }

  onStreamClose(stream: StreamInfo): void {
    const nodeId = stream.node.id;
    const streams = this.#streams.get(nodeId);
    if (!streams) return;
    streams.delete(stream.id);
    if (streams.size > 0) return;
    this.#streams.delete(nodeId);
    this.#departed.set(nodeId, { nodeId, since: this.clock.now() });
    if (this.#departed.size > maxDeparted) {
      const oldest = this.#departed.keys().next().value;
      if (oldest !== undefined) this.#departed.delete(oldest);
    }
    this.onChange();
  }

  onAck(): void {
    this.onChange();
  }

  onNack(): void {
    this.onChange();
  }

  connected(): ConnectedProxy[] {
    return [...this.#streams.values()].flatMap((streams) => {
      const first = streams.values().next().value;
      return first ? [first] : [];
    });
  }

  departed(): DepartedProxy[] {
    return [...this.#departed.values()];
  }
}
