import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { timeoutSignal } from "../../src/lib/timeout-signal.js";

describe("timeoutSignal", () => {
  it("aborts exactly when the time passes on its clock, with AbortSignal.timeout's reason", () => {
    const clock = new ManualClock(0);
    const signal = timeoutSignal(clock, 300);
    clock.advance(299);
    expect(signal.aborted).toBe(false);
    clock.advance(1);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(DOMException);
    expect((signal.reason as DOMException).name).toBe("TimeoutError");
  });

  it("aborts a fetch as AbortSignal.timeout does", async () => {
    const clock = new ManualClock(0);
    const signal = timeoutSignal(clock, 10);
    clock.advance(10);
    await expect(fetch("http://127.0.0.1:9/", { signal })).rejects.toMatchObject({ name: "TimeoutError" });
  });
});
