// What the dashboard tests serve: the policies example (a gateway, a route table whose routes carry
// auth, rate-limit, retry, fault and CORS policies) and a proxyless gRPC mesh whose route a
// grpc-js client NACKs (weights whose sum overflows the uint32 every xDS client sums them in).
import { readFileSync } from "node:fs";
import type { JsonObject } from "@bufbuild/protobuf";
import { parseAllDocuments } from "yaml";

export function policiesExample(): JsonObject[] {
  const text = readFileSync(new URL("../../examples/features/policies.yaml", import.meta.url), "utf8");
  return parseAllDocuments(text).map((d) => d.toJS() as JsonObject);
}

export const nackerLabels = { app: "nacker" };

export const meshDocuments: JsonObject[] = [
  {
    apiVersion: "gantry/v1",
    kind: "Gateway",
    metadata: { name: "mesh", namespace: "grpc" },
    spec: { kind: "GRPC_PROXYLESS", proxies: { labels: nackerLabels } },
  },
  ...["a", "b"].map((name) => ({
    apiVersion: "gantry/v1",
    kind: "Destination",
    metadata: { name, namespace: "grpc" },
    spec: { ports: [{ number: 50051, protocol: "GRPC" }], endpoints: [{ address: "127.0.0.1", port: 9 }] },
  })),
];

/** The route table; `weight` 3,000,000,000 on both destinations makes clients NACK it. */
export function meshRoutes(weight: number): JsonObject {
  return {
    apiVersion: "gantry/v1",
    kind: "RouteTable",
    metadata: { name: "nack", namespace: "grpc" },
    spec: {
      hosts: ["nack.test"],
      gateways: [{ name: "mesh" }],
      http: [
        {
          forwardTo: {
            destinations: [
              { destination: { name: "a" }, weight },
              { destination: { name: "b" }, weight },
            ],
            timeout: "5s",
          },
        },
      ],
    },
  };
}
