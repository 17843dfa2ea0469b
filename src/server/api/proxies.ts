// ManagementService.DescribeProxy and ListProxies: the server's plain proxy views as API messages.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { ManagementService, ProxyStatus } from "../../gen/gantry/api/v1/management_pb.js";
import { DescribeProxyResponseSchema } from "../../gen/gantry/api/v1/proxies_pb.js";
import type { ManagementDeps } from "./deps.js";

export function proxyHandlers(
  deps: Pick<ManagementDeps, "proxies" | "clients" | "describeProxy">,
): Pick<ServiceImpl<typeof ManagementService>, "describeProxy" | "listProxies"> {
  return {
    async describeProxy(request) {
      if (!request.nodeId) throw new ConnectError("node_id is required", Code.InvalidArgument);
      const detail = deps.describeProxy?.(request.nodeId);
      if (!detail) {
        throw new ConnectError(`proxy ${request.nodeId} is not connected to this server replica`, Code.NotFound);
      }
      const { lastNack, resources, ...rest } = detail;
      return create(DescribeProxyResponseSchema, {
        ...rest,
        resources: resources.map(({ since, ...r }) => ({
          ...r,
          ...(since === undefined ? {} : { since: timestampFromMs(since) }),
        })),
        ...(lastNack ? { lastNackError: lastNack.error, lastNackTime: timestampFromMs(lastNack.atMs) } : {}),
      });
    },

    async listProxies() {
      const proxies: ProxyStatus[] = deps.proxies().map((p) => ({
        $typeName: "gantry.api.v1.ProxyStatus",
        nodeId: p.nodeId,
        metadata: p.metadata,
        stream: p.stream,
        connectedAt: timestampFromMs(p.connectedAtMs),
        server: p.server,
        types: p.types.map((t) => ({
          $typeName: "gantry.api.v1.TypeStatus",
          typeUrl: t.typeUrl,
          ackedVersion: t.ackedVersion,
          ackedNonce: t.ackedNonce,
          lastNackError: t.lastNackError ?? "",
          ...(t.lastNackAtMs === undefined ? {} : { lastNackTime: timestampFromMs(t.lastNackAtMs) }),
        })),
      }));
      const clients = (deps.clients?.() ?? []).map(({ lastNack, ...client }) => ({
        ...client,
        ...(lastNack ? { lastNackError: lastNack.error, lastNackTime: timestampFromMs(lastNack.atMs) } : {}),
      }));
      return { proxies, clients };
    },
  };
}
