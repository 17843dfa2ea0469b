// Destination `workloadTls`: how callers connect with Gantry's workload identities. Envoy clusters
// take the SDS secrets `default` (MUTUAL) and `ROOTCA`, gRPC clients the certificate provider
// `gantry`, and xDS-enabled gRPC servers the matching server TLS (docs/security.md).
import { describe, expect, it } from "vitest";
import { edsCluster } from "./envoy.js";
import { grpcWorkloadTls, serverListener, serverListenerName, workloadTls } from "./envoy-mesh.js";
import { accepted, CDS, envoyNode, featureServer, invalid, LDS, SDS, warning } from "./harness.js";
import {
  destination,
  forward,
  gateway,
  grpcGateway,
  httpRoute,
  prefixMatch,
  routeTable,
  serverGateway,
} from "./resources.js";

const ft = featureServer();

const grpcPort = (number: number) => ({ number, protocol: "GRPC" });

describe("Destination workloadTls", () => {
  it("DISABLE, SIMPLE and MUTUAL as Envoy, gRPC clients and gRPC servers get them; a change reaches each", async () => {
    const ns = "wtls";
    const ledger = (mode: string) =>
      destination(`${ns}/ledger`, grpcPort(50053), ["10.4.0.3"], {
        workloadTls: { mode, serviceAccount: "ledger-sa" },
      });
    await ft.apply(
      gateway(`${ns}/public`, { app: `${ns}-envoy` }, [{ port: 8080 }]),
      grpcGateway(`${ns}/mesh`, { app: `${ns}-grpc` }),
      serverGateway(`${ns}/servers`, { app: `${ns}-server` }, [
        { port: 50051, destination: { name: "plain" } },
        { port: 50052, destination: { name: "catalog" } },
        { port: 50053, destination: { name: "ledger" } },
      ]),
      routeTable(
        `${ns}/api`,
        ["api.example.com"],
        // The servers' gateway takes no route tables (it is named here to show that).
        ["public", "mesh", "servers"],
        [
          httpRoute("plain", [prefixMatch("/plain")], forward(["plain"])),
          httpRoute("catalog", [prefixMatch("/catalog")], forward(["catalog"])),
          httpRoute("ledger", [prefixMatch("/ledger")], forward(["ledger"])),
        ],
      ),
      destination(`${ns}/plain`, grpcPort(50051), ["10.4.0.1"], { workloadTls: { mode: "DISABLE" } }),
      destination(`${ns}/catalog`, grpcPort(50052), ["10.4.0.2"], {
        workloadTls: {
          mode: "SIMPLE",
          serverIdentities: ["spiffe://gantry.local/ns/shop/sa/catalog", "spiffe://gantry.local/ns/shop/sa/catalog-v2"],
          sni: "catalog.shop",
        },
      }),
      ledger("MUTUAL"),
    );
    const ledgerId = `spiffe://gantry.local/ns/${ns}/sa/ledger-sa`;
    const catalogIds = ["spiffe://gantry.local/ns/shop/sa/catalog", "spiffe://gantry.local/ns/shop/sa/catalog-v2"];

    const envoy = ft.sotw(envoyNode(`${ns}-envoy`, { app: `${ns}-envoy` }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [
      edsCluster(`${ns}/plain:50051`, { http2: true }),
      edsCluster(`${ns}/catalog:50052`, {
        http2: true,
        extra: { transportSocket: workloadTls("SIMPLE", catalogIds, "catalog.shop") },
      }),
      edsCluster(`${ns}/ledger:50053`, { http2: true, extra: { transportSocket: workloadTls("MUTUAL", [ledgerId]) } }),
    ]);
    // The management server does not serve workload secrets (the agents do): asking gets nothing.
    envoy.subscribe(SDS, ["default", "ROOTCA"]);
    await envoy.expectQuiet();

    const grpc = ft.sotw(envoyNode(`${ns}-grpc`, { app: `${ns}-grpc` }));
    grpc.subscribe(CDS, [`${ns}/plain:50051`, `${ns}/catalog:50052`, `${ns}/ledger:50053`]);
    await grpc.expect(CDS, [
      edsCluster(`${ns}/plain:50051`, { http2: true }),
      edsCluster(`${ns}/catalog:50052`, {
        http2: true,
        extra: { transportSocket: grpcWorkloadTls("SIMPLE", catalogIds, "catalog.shop") },
      }),
      edsCluster(`${ns}/ledger:50053`, {
        http2: true,
        extra: { transportSocket: grpcWorkloadTls("MUTUAL", [ledgerId]) },
      }),
    ]);

    const server = ft.sotw(envoyNode(`${ns}-server`, { app: `${ns}-server` }));
    const names = [50051, 50052, 50053].map((port) => serverListenerName("0.0.0.0", port));
    server.subscribe(LDS, names);
    await server.expect(LDS, [
      serverListener("0.0.0.0", 50051, `${ns}/plain`),
      serverListener("0.0.0.0", 50052, `${ns}/catalog`, { tls: "SIMPLE" }),
      serverListener("0.0.0.0", 50053, `${ns}/ledger`, { tls: "MUTUAL" }),
    ]);

    expect((await ft.statuses(ns))[`RouteTable/${ns}/api`]).toEqual(
      warning(`not attached to Gateway ${ns}/servers: a GRPC_SERVER gateway serves no route tables`),
    );

    // MUTUAL to SIMPLE: callers stop presenting a certificate, the server stops asking for one.
    await ft.apply(ledger("SIMPLE"));
    await envoy.expect(CDS, [
      edsCluster(`${ns}/plain:50051`, { http2: true }),
      edsCluster(`${ns}/catalog:50052`, {
        http2: true,
        extra: { transportSocket: workloadTls("SIMPLE", catalogIds, "catalog.shop") },
      }),
      edsCluster(`${ns}/ledger:50053`, { http2: true, extra: { transportSocket: workloadTls("SIMPLE", [ledgerId]) } }),
    ]);
    await grpc.expect(CDS, [
      edsCluster(`${ns}/plain:50051`, { http2: true }),
      edsCluster(`${ns}/catalog:50052`, {
        http2: true,
        extra: { transportSocket: grpcWorkloadTls("SIMPLE", catalogIds, "catalog.shop") },
      }),
      edsCluster(`${ns}/ledger:50053`, {
        http2: true,
        extra: { transportSocket: grpcWorkloadTls("SIMPLE", [ledgerId]) },
      }),
    ]);
    await server.expect(LDS, [
      serverListener("0.0.0.0", 50051, `${ns}/plain`),
      serverListener("0.0.0.0", 50052, `${ns}/catalog`, { tls: "SIMPLE" }),
      serverListener("0.0.0.0", 50053, `${ns}/ledger`, { tls: "SIMPLE" }),
    ]);
    await envoy.expectQuiet();
    await grpc.expectQuiet();
    await server.expectQuiet();
  });

  it("refuses workloadTls beside the user's own TLS, and identities that are not SPIFFE IDs", async () => {
    const ns = "wtls-bad";
    await ft.apply(
      destination(`${ns}/both`, 8443, ["10.4.1.1"], {
        tls: { sni: "both.internal" },
        workloadTls: { mode: "MUTUAL" },
      }),
      destination(`${ns}/names`, 8443, ["10.4.1.2"], {
        workloadTls: { mode: "SIMPLE", serverIdentities: ["names.internal"], serviceAccount: "Names" },
      }),
      destination(`${ns}/off`, 8443, ["10.4.1.3"], { tls: { sni: "off.internal" }, workloadTls: { mode: "DISABLE" } }),
    );
    expect(await ft.statuses(ns)).toEqual({
      [`Destination/${ns}/both`]: invalid(
        "spec.workloadTls: not together with spec.tls (the user's certificates): choose Gantry's workload identities or your own",
      ),
      [`Destination/${ns}/names`]: invalid(
        'spec.workloadTls.serverIdentities[0]: "names.internal" is not a SPIFFE ID',
        'spec.workloadTls.serviceAccount: "Names" is not a service account name',
      ),
      [`Destination/${ns}/off`]: accepted,
    });
  });
  it("a gRPC server listening on IPv6 asks for its Listener by [address]:port", async () => {
    const ns = "wtls-v6";
    await ft.apply(
      serverGateway(`${ns}/servers`, { app: ns }, [{ port: 50051, bindAddress: "::", destination: { name: "echo" } }]),
      destination(`${ns}/echo`, grpcPort(50051), ["10.4.2.1"], { workloadTls: { mode: "MUTUAL" } }),
    );
    const server = ft.sotw(envoyNode(`${ns}-1`, { app: ns }));
    server.subscribe(LDS, ["grpc/server?xds.resource.listening_address=[::]:50051"]);
    await server.expect(LDS, [serverListener("::", 50051, `${ns}/echo`, { tls: "MUTUAL" })]);
  });
});
