// The pure part of the agent's Kubernetes provider: objects as the apiserver gives them → the
// Destinations the agent sends up.
import { describe, expect, it } from "vitest";
import { discoverDestinations, type WorkloadClusterObjects } from "../../src/agent/index.js";
import {
  projectDestinationResource,
  projectEndpointSlice,
  projectPod,
  projectService,
} from "../../src/agent/kubernetes-objects.js";
import type { KubeObject } from "../../src/kubernetes/index.js";
import { objectKey } from "../../src/kubernetes/index.js";

function byKey<T>(objects: KubeObject[], project: (o: KubeObject) => T): Map<string, T> {
  return new Map(objects.map((o) => [objectKey(o.metadata), project(o)]));
}

function cluster(objects: {
  services?: unknown[];
  slices?: unknown[];
  pods?: unknown[];
  destinations?: unknown[];
}): WorkloadClusterObjects {
  return {
    services: byKey((objects.services ?? []) as KubeObject[], projectService),
    endpointSlices: byKey((objects.slices ?? []) as KubeObject[], projectEndpointSlice),
    pods: byKey((objects.pods ?? []) as KubeObject[], projectPod),
    destinations: byKey((objects.destinations ?? []) as KubeObject[], projectDestinationResource),
  };
}

const service = (name: string, ports: unknown[], extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: "shop", labels: { app: name } },
  spec: { ports, ...extra },
});

const slice = (name: string, service: string, ports: unknown[], endpoints: unknown[]) => ({
  metadata: { name, namespace: "shop", labels: { "kubernetes.io/service-name": service } },
  addressType: "IPv4",
  ports,
  endpoints,
});

const documents = (objects: WorkloadClusterObjects) => {
  const { set, problems } = discoverDestinations(objects, { clusterDomain: "cluster.local" });
  return { docs: Object.fromEntries([...set].map(([key, doc]) => [key, JSON.parse(doc.json)])), problems };
};

describe("discoverDestinations", () => {
  it("makes a Service and its EndpointSlices a Destination: ports, protocols, health from conditions, Pod labels and service account", () => {
    const { docs, problems } = documents(
      cluster({
        services: [
          service("cart", [
            { name: "grpc-api", port: 9000, targetPort: "api", protocol: "TCP" },
            { name: "web", port: 80, targetPort: 8080, protocol: "TCP", appProtocol: "kubernetes.io/h2c" },
            { name: "dns", port: 53, protocol: "UDP" },
          ]),
        ],
        slices: [
          slice(
            "cart-abc",
            "cart",
            [
              { name: "grpc-api", port: 9090, protocol: "TCP" },
              { name: "web", port: 8080, protocol: "TCP" },
            ],
            [
              {
                addresses: ["10.0.0.2"],
                conditions: { ready: true },
                targetRef: { kind: "Pod", name: "cart-1", namespace: "shop" },
                zone: "z1",
              },
              { addresses: ["10.0.0.1"], conditions: { ready: false, serving: true, terminating: true } },
              { addresses: ["10.0.0.3"], conditions: { ready: false } },
              { addresses: ["10.0.0.4"] },
            ],
          ),
        ],
        pods: [
          {
            metadata: { name: "cart-1", namespace: "shop", labels: { app: "cart", v: "2" } },
            spec: { serviceAccountName: "cart-sa" },
          },
        ],
      }),
    );
    expect(problems).toEqual([]);
    expect(docs["Destination/shop/cart"]).toEqual({
      apiVersion: "gantry/v1",
      kind: "Destination",
      metadata: { name: "cart", namespace: "shop", labels: { app: "cart" } },
      spec: {
        hosts: ["cart.shop.svc.cluster.local"],
        ports: [
          { number: 9000, name: "grpc-api", protocol: "GRPC", targetPort: 9090 },
          { number: 80, name: "web", protocol: "HTTP2", targetPort: 8080 },
        ],
        endpoints: [
          { address: "10.0.0.1", health: "DRAINING" },
          {
            address: "10.0.0.2",
            health: "HEALTHY",
            labels: { app: "cart", v: "2", "gantry.io/service-account": "cart-sa" },
            locality: { zone: "z1" },
          },
          { address: "10.0.0.3", health: "UNHEALTHY" },
          { address: "10.0.0.4", health: "HEALTHY" },
        ],
      },
    });
  });

  it("sets each endpoint's port when a one-port Service's slices disagree, and names the problem when several ports do", () => {
    const { docs, problems } = documents(
      cluster({
        services: [
          service("one", [{ port: 80, targetPort: "http" }]),
          service("two", [
            { name: "a", port: 80, targetPort: "http" },
            { name: "b", port: 81, targetPort: 81 },
          ]),
        ],
        slices: [
          slice("one-1", "one", [{ port: 8080 }], [{ addresses: ["10.0.0.1"] }]),
          slice("one-2", "one", [{ port: 9090 }], [{ addresses: ["10.0.0.1"] }]),
          slice("two-1", "two", [{ name: "a", port: 8080 }], [{ addresses: ["10.0.1.1"] }]),
          slice("two-2", "two", [{ name: "a", port: 9090 }], [{ addresses: ["10.0.1.2"] }]),
        ],
      }),
    );
    expect(docs["Destination/shop/one"].spec).toMatchObject({
      ports: [{ number: 80 }],
      endpoints: [
        { address: "10.0.0.1", port: 8080, health: "HEALTHY" },
        { address: "10.0.0.1", port: 9090, health: "HEALTHY" },
      ],
    });
    expect(docs["Destination/shop/two"].spec.ports).toEqual([
      { number: 80, name: "a", targetPort: 8080 },
      { number: 81, name: "b" },
    ]);
    expect(problems).toEqual([
      "Service shop/two: port 80 (a) maps to container ports 8080, 9090 in different EndpointSlices; using 8080",
    ]);
  });

  it("keeps the healthier copy of an endpoint two slices hold, makes ExternalName a DNS Destination, skips UDP-only Services", () => {
    const { docs } = documents(
      cluster({
        services: [
          service("api", [{ port: 80 }]),
          service("ext", [{ port: 443 }], { type: "ExternalName", externalName: "api.example.com" }),
          service("dns", [{ port: 53, protocol: "UDP" }]),
        ],
        slices: [
          slice("api-1", "api", [{ port: 80 }], [{ addresses: ["10.0.0.1"], conditions: { ready: false } }]),
          slice("api-2", "api", [{ port: 80 }], [{ addresses: ["10.0.0.1"], conditions: { ready: true } }]),
        ],
      }),
    );
    expect(docs["Destination/shop/api"].spec.endpoints).toEqual([{ address: "10.0.0.1", health: "HEALTHY" }]);
    expect(docs["Destination/shop/ext"].spec).toEqual({
      hosts: ["ext.shop.svc.cluster.local"],
      ports: [{ number: 443 }],
      dns: "api.example.com",
    });
    expect(Object.keys(docs).sort()).toEqual(["Destination/shop/api", "Destination/shop/ext"]);
  });

  it("takes Destination custom resources as they are, over the Service of the same name; a bad one is named and left out", () => {
    const { docs, problems } = documents(
      cluster({
        services: [service("cart", [{ port: 80 }])],
        destinations: [
          {
            metadata: { name: "cart", namespace: "shop", labels: { tier: "gold" } },
            spec: { ports: [{ number: 8443 }], dns: "cart.internal" },
          },
          { metadata: { name: "bad", namespace: "shop" }, spec: { ports: [{ number: "eighty" }] } },
        ],
      }),
    );
    expect(docs["Destination/shop/cart"]).toEqual({
      apiVersion: "gantry/v1",
      kind: "Destination",
      metadata: { name: "cart", namespace: "shop", labels: { tier: "gold" } },
      spec: { ports: [{ number: 8443 }], dns: "cart.internal" },
    });
    expect(docs["Destination/shop/bad"]).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^Destination shop\/bad \(custom resource\):1: Destination shop\/bad: spec\.ports\[0\]\.number: /,
    );
  });

  it("gives the same set, byte for byte, whatever order the objects came in", () => {
    const objects = {
      services: [service("a", [{ port: 80 }]), service("b", [{ port: 80 }])],
      slices: [
        slice("a-1", "a", [{ port: 80 }], [{ addresses: ["10.0.0.2"] }, { addresses: ["10.0.0.1"] }]),
        slice("a-2", "a", [{ port: 80 }], [{ addresses: ["10.0.0.3"] }]),
      ],
    };
    const forward = discoverDestinations(cluster(objects), { clusterDomain: "cluster.local" }).set;
    const backward = discoverDestinations(
      cluster({ services: [...objects.services].reverse(), slices: [...objects.slices].reverse() }),
      { clusterDomain: "cluster.local" },
    ).set;
    expect([...backward.values()]).toEqual([...forward.values()]);
  });
});
