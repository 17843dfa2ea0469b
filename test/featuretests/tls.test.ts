// TLS: HTTPS listeners with certificates by SDS (SIMPLE and MUTUAL), HTTP listeners that redirect to
// https, upstream TLS, and the Secrets themselves as SDS resources.
import { describe, expect, it } from "vitest";
import {
  caSecret,
  certificateSecret,
  dnsCluster,
  downstreamTls,
  edsCluster,
  file,
  inline,
  listener,
  prefix,
  route,
  routeConfig,
  toCluster,
  upstreamTls,
  virtualHost,
} from "./envoy.js";
import { accepted, CDS, envoyNode, featureServer, LDS, RDS, SDS } from "./harness.js";
import { destination, forward, gateway, httpRoute, resource, routeTable, secret } from "./resources.js";

const ft = featureServer();

const pem = (label: string) => `-----BEGIN CERTIFICATE-----\n${label}\n-----END CERTIFICATE-----\n`;

describe("TLS", () => {
  it("terminates HTTPS with SDS certificates, requires client certificates for MUTUAL, redirects plain HTTP", async () => {
    const ns = "tls-mutual";
    await ft.apply(
      gateway(`${ns}/secure`, { gateway: ns }, [
        { name: "http", port: 8080, httpsRedirect: true },
        {
          name: "https",
          port: 8443,
          protocol: "HTTPS",
          tls: { secret: { name: "example-com" }, mode: "MUTUAL", clientCa: { name: "clients-ca" } },
        },
      ]),
      secret(`${ns}/example-com`, {
        tls: { certificateChain: { file: "/etc/tls/example.crt" }, privateKey: { file: "/etc/tls/example.key" } },
      }),
      secret(`${ns}/clients-ca`, { ca: { certificates: { inline: pem("clients") } } }),
      routeTable(`${ns}/site`, ["secure.example.com"], ["secure"], [httpRoute("all", [], forward(["site"]))]),
      resource("Destination", `${ns}/site`, {
        ports: [{ number: 443 }],
        dns: "site.internal",
        tls: { sni: "site.internal", ca: { name: "clients-ca" }, clientCertificate: { name: "example-com" } },
      }),
    );

    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [
      dnsCluster(`${ns}/site:443`, "site.internal", 443, {
        transportSocket: upstreamTls({
          ca: `${ns}/clients-ca`,
          sni: "site.internal",
          clientCertificate: `${ns}/example-com`,
        }),
      }),
    ]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [
      listener(`${ns}/secure/http`, 8080),
      listener(`${ns}/secure/https`, 8443, {
        transportSocket: downstreamTls(`${ns}/example-com`, `${ns}/clients-ca`),
      }),
    ]);
    envoy.subscribe(RDS, [`${ns}/secure/http`, `${ns}/secure/https`]);
    const routes = [route(`${ns}/site/all`, prefix("/"), toCluster(`${ns}/site:443`))];
    await envoy.expect(RDS, [
      routeConfig(`${ns}/secure/http`, [
        virtualHost(`${ns}/site`, ["secure.example.com"], routes, { requireTls: "ALL" }),
      ]),
      routeConfig(`${ns}/secure/https`, [virtualHost(`${ns}/site`, ["secure.example.com"], routes)]),
    ]);
    envoy.subscribe(SDS, [`${ns}/clients-ca`, `${ns}/example-com`]);
    await envoy.expect(SDS, [
      caSecret(`${ns}/clients-ca`, inline(pem("clients"))),
      certificateSecret(`${ns}/example-com`, file("/etc/tls/example.crt"), file("/etc/tls/example.key")),
    ]);
    await envoy.expectQuiet();

    // A rotated CA bundle: only that secret is sent again.
    await ft.apply(secret(`${ns}/clients-ca`, { ca: { certificates: { inline: pem("rotated") } } }));
    await envoy.expect(SDS, [caSecret(`${ns}/clients-ca`, inline(pem("rotated")))]);
    await envoy.expectQuiet();

    expect(await ft.statuses(ns)).toEqual({
      [`Gateway/${ns}/secure`]: accepted,
      [`Secret/${ns}/example-com`]: accepted,
      [`Secret/${ns}/clients-ca`]: accepted,
      [`RouteTable/${ns}/site`]: accepted,
      [`Destination/${ns}/site`]: accepted,
    });
  });

  it("serves SIMPLE TLS over delta, and only the secrets the gateway uses", async () => {
    const ns = "tls-simple";
    await ft.apply(
      gateway(`${ns}/web`, { gateway: ns }, [{ port: 443, protocol: "HTTPS", tls: { secret: { name: "cert" } } }]),
      secret(`${ns}/cert`, { tls: { certificateChain: { inline: pem("chain") }, privateKey: { file: "/k.pem" } } }),
      secret(`${ns}/unused`, { tls: { certificateChain: { file: "/u.crt" }, privateKey: { file: "/u.key" } } }),
      routeTable(`${ns}/site`, ["web.example.com"], ["web"], [httpRoute("all", [], forward(["web"]))]),
      destination(`${ns}/web`, 80, ["10.5.0.1"]),
    );
    const envoy = ft.delta(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [edsCluster(`${ns}/web:80`)]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/web/443`, 443, { transportSocket: downstreamTls(`${ns}/cert`) })]);
    envoy.subscribe(SDS);
    await envoy.expect(SDS, [certificateSecret(`${ns}/cert`, inline(pem("chain")), file("/k.pem"))]);
    await envoy.expectQuiet();
  });
});
