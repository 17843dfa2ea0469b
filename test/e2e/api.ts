import type { JsonObject } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { type ApplyResponse, ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { parseResources } from "../../src/resources/index.js";
import { resourceToDocument } from "../../src/server/documents.js";

/** Applies YAML resources through a management server's API, as `gantry apply` does. */
export async function applyYaml(apiPort: number, token: string, yaml: string): Promise<ApplyResponse> {
  const { resources, rejected } = parseResources(yaml, "fixture.yaml");
  if (rejected.length > 0) throw new Error(`fixture rejected: ${rejected.flatMap((r) => r.errors).join("\n")}`);
  const api = createClient(
    ManagementService,
    createConnectTransport({
      baseUrl: `http://127.0.0.1:${apiPort}`,
      httpVersion: "1.1",
      interceptors: [
        (next) => async (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ],
    }),
  );
  return api.apply({ documents: resources.map((r) => resourceToDocument(r) as unknown as JsonObject) });
}
