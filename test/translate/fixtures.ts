import { parseResources, type Resource } from "../../src/resources/index.js";

/** Resources from YAML text; fails the test if any document is rejected. */
export function resources(text: string): Resource[] {
  const { resources: out, rejected } = parseResources(text, "test.yaml");
  if (rejected.length > 0) throw new Error(rejected.flatMap((r) => r.errors).join("\n"));
  return out;
}

export const gateway = (name = "gw", extra = "") => `apiVersion: gantry/v1
kind: Gateway
metadata: { name: ${name} }
spec:
  proxies: { labels: { gateway: ${name} } }
  listeners: [{ port: 8080 }]${extra}
---
`;

export const destination = (name: string, address = "10.0.0.1") => `apiVersion: gantry/v1
kind: Destination
metadata: { name: ${name} }
spec:
  ports: [{ number: 80 }]
  endpoints: [{ address: ${address} }]
---
`;
