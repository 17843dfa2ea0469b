import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { applyReportView, formatApplyReport } from "../../src/cli/apply-report.js";
import { ApplyResponseSchema, ApplyResult_Action } from "../../src/gen/gantry/api/v1/management_pb.js";
import { ResourceStatus_State } from "../../src/gen/gantry/v1/status_pb.js";

const response = (dryRun: boolean) =>
  create(ApplyResponseSchema, {
    revision: 12n,
    dryRun,
    results: [
      {
        ref: { kind: "RouteTable", namespace: "shop", name: "front" },
        action: ApplyResult_Action.CONFIGURED,
        status: { state: ResourceStatus_State.WARNING, messages: ["not attached to any gateway listener"] },
        warnings: ["not attached to any gateway listener", "spec.gateways[0]: Gateway shop/gw does not exist"],
      },
      {
        ref: { kind: "RetryTimeoutPolicy", namespace: "shop", name: "retry" },
        action: ApplyResult_Action.CREATED,
        status: {
          state: ResourceStatus_State.INVALID,
          messages: ["spec.retry.retryOn: at least one condition is required"],
        },
        rejected: true,
      },
    ],
  });

describe("how gantry apply shows the API's answer", () => {
  it("prints a kubectl-like line per resource, then its status, reasons and warnings", () => {
    expect(formatApplyReport(applyReportView(response(false)))).toBe(
      "routetable/shop/front configured\n" +
        "  status: Accepted\n" +
        "  warning: not attached to any gateway listener\n" +
        "  warning: spec.gateways[0]: Gateway shop/gw does not exist\n" +
        "retrytimeoutpolicy/shop/retry created\n" +
        "  status: Rejected\n" +
        "  reason: spec.retry.retryOn: at least one condition is required\n",
    );
    expect(formatApplyReport(applyReportView(response(true)))).toContain(
      "routetable/shop/front configured (dry run)\n",
    );
  });

  it("gives -o json and -o yaml the same as data", () => {
    expect(applyReportView(response(true))).toEqual({
      dryRun: true,
      revision: 12,
      resources: [
        {
          kind: "RouteTable",
          namespace: "shop",
          name: "front",
          action: "configured",
          status: "Accepted",
          state: "WARNING",
          reasons: [],
          warnings: ["not attached to any gateway listener", "spec.gateways[0]: Gateway shop/gw does not exist"],
        },
        {
          kind: "RetryTimeoutPolicy",
          namespace: "shop",
          name: "retry",
          action: "created",
          status: "Rejected",
          state: "INVALID",
          reasons: ["spec.retry.retryOn: at least one condition is required"],
          warnings: [],
        },
      ],
    });
  });

  it("refuses an answer that does not say what the apply did (a server older than this CLI)", () => {
    const old = create(ApplyResponseSchema, { results: [{ ref: { kind: "Gateway", name: "gw" } }] });
    expect(() => applyReportView(old)).toThrow(/without saying what it did to gw/);
    const older = create(ApplyResponseSchema, { revision: 3n, changed: [{ kind: "Gateway", name: "gw" }] });
    expect(() => applyReportView(older)).toThrow(
      "the server applied (revision 3): 1 changed, 0 unchanged, but reports no per-resource results: it is older than this gantry",
    );
  });
});
