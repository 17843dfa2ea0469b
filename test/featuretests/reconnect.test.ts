// Reconnecting proxies: versions are content hashes, so a client that says what it runs gets only
// what differs from it (SotW: nothing if its version is current; delta: only the changed resources).
import { describe, it } from "vitest";
import { edsCluster, endpoint, loadAssignment, locality } from "./envoy.js";
import { CDS, EDS, envoyNode, featureServer } from "./harness.js";
import { destination, forward, gateway, httpRoute, prefixMatch, resource, routeTable } from "./resources.js";

const ft = featureServer();

function site(ns: string) {
  return [
    gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
    routeTable(
      `${ns}/site`,
      [`${ns}.example.com`],
      ["public"],
      [httpRoute("a", [prefixMatch("/a")], forward(["a"])), httpRoute("b", [prefixMatch("/b")], forward(["b"]))],
    ),
  ];
}

const endpoints = (cluster: string, address: string) =>
  loadAssignment(cluster, [locality({}, [endpoint(address, 80)])]);

describe("reconnecting", () => {
  it("SotW: a client running the current version is not answered; a stale one gets the full set", async () => {
    const ns = "re-sotw";
    await ft.apply(...site(ns), destination(`${ns}/a`, 80, ["10.10.0.1"]), destination(`${ns}/b`, 80, ["10.10.0.2"]));
    const first = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    first.subscribe(CDS);
    await first.expect(CDS, [edsCluster(`${ns}/a:80`), edsCluster(`${ns}/b:80`)]);
    const running = first.version(CDS);
    first.close();

    // Endpoints change while it is away; its clusters do not.
    await ft.apply(destination(`${ns}/b`, 80, ["10.10.0.3"]));
    const again = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    again.subscribe(CDS, undefined, running);
    await again.expectQuiet();

    const stale = ft.sotw(envoyNode(`${ns}-2`, { gateway: ns }));
    stale.subscribe(CDS, undefined, "an-old-version");
    await stale.expect(CDS, [edsCluster(`${ns}/a:80`), edsCluster(`${ns}/b:80`)]);

    // A later change reaches the client that reconnected quietly.
    await ft.apply(
      resource("Destination", `${ns}/a`, {
        ports: [{ number: 80 }],
        endpoints: [{ address: "10.10.0.1" }],
        connectTimeout: "1s",
      }),
    );
    await again.expect(CDS, [edsCluster(`${ns}/a:80`, { connectTimeout: "1s" }), edsCluster(`${ns}/b:80`)]);
    await again.expectQuiet();
  });

  it("delta: a client that says what it holds gets only the resources whose version changed", async () => {
    const ns = "re-delta";
    await ft.apply(...site(ns), destination(`${ns}/a`, 80, ["10.11.0.1"]), destination(`${ns}/b`, 80, ["10.11.0.2"]));
    const first = ft.delta(envoyNode(`${ns}-1`, { gateway: ns }));
    first.subscribe(EDS, [`${ns}/a:80`, `${ns}/b:80`]);
    await first.expect(EDS, [endpoints(`${ns}/a:80`, "10.11.0.1"), endpoints(`${ns}/b:80`, "10.11.0.2")]);
    const held = first.versions(EDS);
    first.close();

    await ft.apply(destination(`${ns}/b`, 80, ["10.11.0.3"]));
    const again = ft.delta(envoyNode(`${ns}-1`, { gateway: ns }));
    again.subscribe(EDS, [`${ns}/a:80`, `${ns}/b:80`], held);
    await again.expect(EDS, [endpoints(`${ns}/b:80`, "10.11.0.3")]);
    await again.expectQuiet();

    // A cluster it says it holds but that is gone is removed.
    const other = ft.delta(envoyNode(`${ns}-2`, { gateway: ns }));
    other.subscribe(CDS, [], { [`${ns}/gone:80`]: "v0" });
    await other.expect(CDS, [edsCluster(`${ns}/a:80`), edsCluster(`${ns}/b:80`)], [`${ns}/gone:80`]);
    await other.expectQuiet();
  });
});
