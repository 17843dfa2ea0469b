import { describe, expect, it } from "vitest";
import { ApiProvider } from "../../src/config/index.js";
import { record } from "./recorder.js";

describe("API provider", () => {
  const positive = (config: number[]) => {
    const bad = config.findIndex((n) => n <= 0);
    if (bad >= 0) throw new Error(`config[${bad}]: not positive`);
  };

  it("offers each push as a new version and says whether it was taken", async () => {
    const provider = new ApiProvider<number[]>({ source: "test", check: positive });
    const seen = record(provider, (config) => config.includes(13));
    await provider.start();
    await provider.push([1]);
    await provider.push([1]);
    expect(seen.snapshots.map((s) => s.version)).toEqual(["test-1", "test-2"]);
    await expect(provider.push([13])).rejects.toThrow("refused test-3");
    expect(provider.current()?.version).toBe("test-2");
  });

  it("throws an invalid config at once, reports it, and offers nothing", () => {
    const provider = new ApiProvider<number[]>({ check: positive });
    const seen = record(provider);
    expect(() => provider.push([1, -1])).toThrow("config[1]: not positive");
    expect(seen.errors.map((e) => e.message)).toEqual(["config[1]: not positive"]);
    expect(seen.snapshots).toEqual([]);
    expect(provider.current()).toBeUndefined();
  });
});
