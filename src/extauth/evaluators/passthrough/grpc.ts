import type { HeaderValueOption } from "../../../gen/envoy/config/core/v3/base_pb.js";
import { Authorization, type CheckResponse } from "../../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient, type ServiceClient } from "../../../lib/grpc.js";
import type { CheckContext, Evaluator, HeaderToAdd, Verdict } from "../../evaluator.js";
import { bounded } from "./bounded.js";

/** Forwards the CheckRequest unchanged to another ext_authz server and takes its answer as this step's. */
export class GrpcPassThrough implements Evaluator {
  readonly #client: ServiceClient<(typeof Authorization)["method"]>;

  constructor(
    private readonly address: string,
    private readonly timeoutMs: number,
  ) {
    this.#client = createClient(Authorization, address);
  }

  async evaluate(context: CheckContext): Promise<Verdict> {
    let response: CheckResponse;
    try {
      response = await bounded(this.#client.check(context.request, { timeoutMs: this.timeoutMs }), context.signal);
    } catch (err) {
      return { kind: "error", reason: `pass-through to ${this.address} failed: ${(err as Error).message}` };
    }
    return checkResponseToVerdict(response, this.address);
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}

/** Reads another ext_authz server's CheckResponse as Envoy would. */
export function checkResponseToVerdict(response: CheckResponse, from: string): Verdict {
  const dynamicMetadata = response.dynamicMetadata;
  if ((response.status?.code ?? 0) === 0) {
    const ok = response.httpResponse.case === "okResponse" ? response.httpResponse.value : undefined;
    const headers = ok?.headers.map(toHeader) ?? [];
    const responseHeaders = ok?.responseHeadersToAdd.map(toHeader) ?? [];
    const queryParametersToSet = ok?.queryParametersToSet.map(({ key, value }) => ({ key, value })) ?? [];
    return {
      kind: "allow",
      ...(headers.length > 0 && { headers }),
      ...(ok && ok.headersToRemove.length > 0 && { headersToRemove: [...ok.headersToRemove] }),
      ...(responseHeaders.length > 0 && { responseHeaders }),
      ...(queryParametersToSet.length > 0 && { queryParametersToSet }),
      ...(ok && ok.queryParametersToRemove.length > 0 && { queryParametersToRemove: [...ok.queryParametersToRemove] }),
      ...(dynamicMetadata && { dynamicMetadata }),
    };
  }
  const denied = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value : undefined;
  const headers = denied?.headers.map(toHeader) ?? [];
  return {
    kind: "deny",
    // Envoy's default for a denial without a status of its own.
    status: denied?.status?.code || 403,
    reason: `denied by ${from}`,
    ...(headers.length > 0 && { headers }),
    ...(denied && denied.body !== "" && { body: denied.body }),
    ...(dynamicMetadata && { dynamicMetadata }),
  };
}

/** In an ext_authz response `append` defaults to false: the header replaces the request's. */
function toHeader(option: HeaderValueOption): HeaderToAdd {
  const key = option.header?.key ?? "";
  const value = option.header?.value || Buffer.from(option.header?.rawValue ?? []).toString("utf8");
  return option.append ? { name: key, value, append: true } : { name: key, value };
}
