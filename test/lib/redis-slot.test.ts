import { describe, expect, it } from "vitest";
import { clusterSlots, keySlot } from "../../src/lib/redis-slot.js";

describe("keySlot", () => {
  // Each expected slot is what redis-server 7.0 answered to CLUSTER KEYSLOT for the same key.
  it.each([
    ["123456789", 12739],
    ["", 0],
    ["user1000", 3443],
    ["{user1000}.following", 3443],
    ["foo{}{bar}", 8363],
    ["foo{{bar}}zap", 4015],
    ["foo{bar}{zap}", 5061],
    ["a{b", 13340],
    ["ключ", 10303],
    ["{ключ}x", 10303],
  ])("puts %j in slot %i, as Redis does", (key, slot) => {
    expect(keySlot(key)).toBe(slot);
  });

  it("stays within the 16,384 slots", () => {
    for (let i = 0; i < 1000; i++) {
      const slot = keySlot(`bench_remote_address_10.0.${i}_1767614400`);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(slot).toBeLessThan(clusterSlots);
    }
  });
});
