import { describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import {
  AckLedger,
  type ClientResourceStatus,
  type Push,
  refusedBy,
  type StreamInfo,
  type StreamKind,
} from "../../src/xds/index.js";

let ids = 0;
function stream(nodeId: string, kind: StreamKind = "ads-sotw", group = "g"): StreamInfo {
  ids += 1;
  return { id: ids, kind, node: { id: nodeId } as StreamInfo["node"], group, peer: "test", openedAt: 0 };
}

function push(typeUrl: string, holds: Record<string, string>, at: number, nonce = `n${at}`): Push {
  return {
    typeUrl,
    version: "v",
    nonce,
    resources: Object.keys(holds).length,
    removed: 0,
    at,
    publishedAt: undefined,
    holds: new Map(Object.entries(holds)),
  };
}

const L = TypeUrl.listener;
const R = TypeUrl.route;
/** What the snapshot serves now: listeners a, b, c at v1; route r at v1. */
const served = new Map<string, ReadonlyMap<string, { version: string }>>([
  [L, new Map(["a", "b", "c"].map((name) => [name, { version: "v1" }]))],
  [R, new Map([["r", { version: "v1" }]])],
]);
const current = (_: StreamInfo, typeUrl: string) => served.get(typeUrl);

function subscribe(ledger: AckLedger, s: StreamInfo, typeUrl: string, names: string[] | "*"): void {
  ledger.onSubscribe(s, {
    typeUrl,
    wildcard: names === "*",
    names: new Set(names === "*" ? [] : names),
    at: 0,
  });
}

describe("AckLedger: per client and resource, over all the node's streams", () => {
  it("counts only what each stream subscribed to, aggregated per node", () => {
    const ledger = new AckLedger();
    const one = stream("grpc-1");
    const two = stream("grpc-1", "ads-delta");
    ledger.onStreamOpen(one);
    ledger.onStreamOpen(two);
    subscribe(ledger, one, L, ["a"]);
    subscribe(ledger, two, L, ["b", "missing"]);
    const p = push(L, { a: "v1" }, 10);
    ledger.onPush(one, p);
    ledger.onAck(one, { push: p, version: "v", at: 11 });
    const table = ledger.table(current);
    expect(table.resources.map((r) => [r.name, r.state, r.sent, r.streams])).toEqual([
      ["a", "in-sync", false, 1],
      ["b", "pending", false, 1],
    ]);
    expect(table.clients).toEqual([
      { nodeId: "grpc-1", streams: ["ads-delta", "ads-sotw"], inSync: 1, pending: 1, nacked: 0, lastNack: undefined },
    ]);
  });

  it("a wildcard counts every resource of the type; the worst stream wins when two subscribe", () => {
    const ledger = new AckLedger();
    const envoy = stream("envoy");
    const extra = stream("envoy");
    ledger.onStreamOpen(envoy);
    ledger.onStreamOpen(extra);
    subscribe(ledger, envoy, L, "*");
    subscribe(ledger, extra, L, ["c"]);
    const all = push(L, { a: "v1", b: "v1", c: "v1" }, 20);
    ledger.onPush(envoy, all);
    ledger.onAck(envoy, { push: all, version: "v", at: 21 });
    ledger.onPush(extra, push(L, { c: "v1" }, 22));
    const rows = ledger.table(current).resources;
    expect(rows.map((r) => [r.name, r.state, r.streams])).toEqual([
      ["a", "in-sync", 1],
      ["b", "in-sync", 1],
      ["c", "pending", 2],
    ]);
    expect(rows[2]).toMatchObject({ sent: true, since: 22 });
  });

  it("a NACK marks the resources its error names, keeps their first time, and an ACK of them clears it", () => {
    const ledger = new AckLedger();
    const s = stream("go");
    ledger.onStreamOpen(s);
    subscribe(ledger, s, L, ["a", "b"]);
    const old = push(L, { a: "v0", b: "v1" }, 1);
    ledger.onPush(s, old);
    ledger.onAck(s, { push: old, version: "v", at: 2 });
    const bad = push(L, { a: "v1", b: "v1" }, 5);
    ledger.onPush(s, bad);
    ledger.onNack(s, { push: bad, version: "v", at: 6, error: 'listener "a": bad regex' });
    const again = push(L, { a: "v1", b: "v1" }, 8);
    ledger.onPush(s, again);
    ledger.onNack(s, { push: again, version: "v", at: 9, error: 'listener "a": bad regex' });
    let rows = ledger.table(current).resources;
    expect(rows.map((r) => [r.name, r.state, r.clientVersion, r.error, r.since])).toEqual([
      ["a", "nacked", "v0", 'listener "a": bad regex', 6],
      ["b", "in-sync", "v1", "", undefined],
    ]);
    expect(ledger.table(current).clients[0]?.lastNack).toEqual({ typeUrl: L, error: 'listener "a": bad regex', at: 9 });
    // Unsubscribing forgets the refusal; asking again, the client has not refused what it gets next.
    subscribe(ledger, s, L, ["b"]);
    subscribe(ledger, s, L, ["a", "b"]);
    expect(ledger.table(current).resources.map((r) => [r.name, r.state])).toEqual([
      ["a", "pending"],
      ["b", "in-sync"],
    ]);
    const fixed = push(L, { a: "v1", b: "v1" }, 12);
    ledger.onPush(s, fixed);
    ledger.onAck(s, { push: fixed, version: "v", at: 13 });
    rows = ledger.table(current).resources;
    expect(rows.map((r) => r.state)).toEqual(["in-sync", "in-sync"]);
    // The client's last NACK stays visible after the ACK; nothing is NACKed now.
    expect(ledger.table(current).clients[0]).toMatchObject({ nacked: 0, lastNack: { at: 9 } });
  });

  it("what a reconnecting client reports holding counts as ACKed; closed streams leave", () => {
    const ledger = new AckLedger();
    const s = stream("envoy", "ads-delta");
    ledger.onStreamOpen(s);
    subscribe(ledger, s, R, "*");
    ledger.onHeld(s, { typeUrl: R, holds: new Map([["r", "v1"]]), at: 0 });
    expect(ledger.table(current).resources.map((r) => r.state)).toEqual(["in-sync"]);
    ledger.onStreamClose(s);
    expect(ledger.table(current)).toEqual({ resources: [], clients: [] });
  });
});

describe("AckLedger.unsettled: the rows not in sync, for the proxy analyzers", () => {
  const without = ({ streams: _, ...row }: ClientResourceStatus) => row;

  it("gives exactly the table's pending and NACKed rows, over several nodes, streams and types", () => {
    const ledger = new AckLedger();
    const [envoy, extra, go, synced] = [stream("envoy"), stream("envoy"), stream("go"), stream("synced")];
    for (const s of [envoy, extra, go, synced]) ledger.onStreamOpen(s);
    subscribe(ledger, envoy, L, "*");
    subscribe(ledger, extra, L, ["c"]);
    subscribe(ledger, go, L, ["a", "b"]);
    subscribe(ledger, go, R, ["r"]);
    subscribe(ledger, synced, L, "*");
    const all = push(L, { a: "v1", b: "v1", c: "v1" }, 20);
    for (const s of [envoy, synced]) {
      ledger.onPush(s, all);
      ledger.onAck(s, { push: all, version: "v", at: 21 });
    }
    ledger.onPush(extra, push(L, { c: "v1" }, 22));
    const old = push(L, { a: "v0", b: "v1" }, 1);
    ledger.onPush(go, old);
    ledger.onAck(go, { push: old, version: "v", at: 2 });
    const bad = push(L, { a: "v1", b: "v1" }, 5);
    ledger.onPush(go, bad);
    ledger.onNack(go, { push: bad, version: "v", at: 6, error: 'listener "a": bad regex' });

    const expected = ledger
      .table(current)
      .resources.filter((r) => r.state !== "in-sync")
      .map(without);
    expect(expected.map((r) => [r.nodeId, r.typeUrl, r.name, r.state])).toEqual([
      ["envoy", L, "c", "pending"],
      ["go", L, "a", "nacked"],
      ["go", R, "r", "pending"],
    ]);
    expect(ledger.unsettled(current).map(without)).toEqual(expected);
  });

  it("finds nothing once every client ACKed, and the same again for a fleet asking alike", () => {
    const ledger = new AckLedger();
    const names = new Set(["a", "b"]);
    const holds = push(L, { a: "v1", b: "v1" }, 1);
    for (let i = 0; i < 100; i++) {
      const s = stream(`fleet-${i}`);
      ledger.onStreamOpen(s);
      ledger.onSubscribe(s, { typeUrl: L, wildcard: false, names, at: 0 });
      ledger.onPush(s, holds);
      ledger.onAck(s, { push: holds, version: "v", at: 2 });
    }
    expect(ledger.unsettled(current)).toEqual([]);
    expect(ledger.table(current).resources).toHaveLength(200);
  });
});

describe("refusedBy", () => {
  it("takes the resources the error names, or every changed one when it names none", () => {
    expect(refusedBy("route x/y: invalid regex", ["x/y", "x/z"])).toEqual(["x/y"]);
    expect(refusedBy("something failed", ["x/y", "x/z"])).toEqual(["x/y", "x/z"]);
  });
});
