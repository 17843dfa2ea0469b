import { expect } from "vitest";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { createClient, GrpcStatus } from "../../src/lib/grpc.js";
import { type HealthService, ServingStatus } from "../../src/lib/health.js";
import { waitFor } from "../support/wait.js";

/**
 * What every server of ours must do with the gRPC health service, whichever transport serves it:
 * Check for the whole server and unknown services, and Watch seeing a change of `service`.
 */
export async function expectHealthServed(address: string, health: HealthService, service: string): Promise<void> {
  const client = createClient(Health, address);
  try {
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    await expect(client.check({ service: "nope" })).rejects.toMatchObject({ code: GrpcStatus.NOT_FOUND });
    health.set(service, ServingStatus.SERVING);
    const seen: ServingStatus[] = [];
    const watch = client.watch({ service });
    watch.on("data", (response) => seen.push(response.status));
    watch.on("error", () => {});
    await waitFor(() => seen.length === 1, { what: "the first health status" });
    health.set(service, ServingStatus.NOT_SERVING);
    await waitFor(() => seen.length === 2, { what: "the health change" });
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    watch.cancel();
  } finally {
    client.close();
  }
}
