import { describe, expect, it } from "vitest";
import { desiredStatus, sameStatus } from "../../src/kube/status.js";
import { State } from "../../src/translate/index.js";

const at = Date.UTC(2026, 11, 3, 12, 0, 0, 750);

describe("desiredStatus", () => {
  it("says Accepted with the generation translated, its time to the second as Kubernetes keeps it", () => {
    const status = desiredStatus({
      outcome: { translated: { state: State.ACCEPTED, messages: [] } },
      generation: 4,
      policies: ["RetryTimeoutPolicy/shop/retry", "CORSPolicy/shop/cors"],
      current: undefined,
      nowMs: at,
    });
    expect(status).toEqual({
      state: "Accepted",
      policies: "CORSPolicy/shop/cors, RetryTimeoutPolicy/shop/retry",
      conditions: [
        {
          type: "Accepted",
          status: "True",
          observedGeneration: 4,
          lastTransitionTime: "2026-12-03T12:00:00Z",
          reason: "Accepted",
          message: "accepted and served",
        },
      ],
    });
  });

  it("keeps the transition time while the condition's status stays, and moves it when it flips", () => {
    const first = desiredStatus({
      outcome: { translated: { state: State.ACCEPTED, messages: [] } },
      generation: 1,
      policies: [],
      current: undefined,
      nowMs: at,
    });
    const warned = desiredStatus({
      outcome: { translated: { state: State.WARNING, messages: ["shadowed route"] } },
      generation: 2,
      policies: [],
      current: first,
      nowMs: at + 60_000,
    });
    expect(warned.conditions[0]).toMatchObject({ status: "True", reason: "Warning", message: "shadowed route" });
    expect(warned.conditions[0]?.lastTransitionTime).toBe("2026-12-03T12:00:00Z");
    const refused = desiredStatus({
      outcome: { invalid: ["RouteTable shop/web: spec.hosts: expected a list, got a mapping"] },
      generation: 3,
      policies: [],
      current: warned,
      nowMs: at + 120_000,
    });
    expect(refused.state).toBe("Invalid");
    expect(refused.conditions[0]).toMatchObject({ status: "False", observedGeneration: 3 });
    expect(refused.conditions[0]?.message).toContain("spec.hosts: expected a list");
    expect(refused.conditions[0]?.lastTransitionTime).toBe("2026-12-03T12:02:00Z");
  });

  it("compares equal to itself read back (keys in another order), so nothing is written twice", () => {
    const status = desiredStatus({
      outcome: { translated: undefined },
      generation: 1,
      policies: [],
      current: undefined,
      nowMs: at,
    });
    expect(status.state).toBe("Pending");
    const readBack = JSON.parse(JSON.stringify({ conditions: status.conditions, policies: "", state: "Pending" }));
    expect(sameStatus(readBack, status)).toBe(true);
    expect(sameStatus({ ...readBack, state: "Accepted" }, status)).toBe(false);
    expect(sameStatus(undefined, status)).toBe(false);
  });
});
