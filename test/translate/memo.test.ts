import { describe, expect, it } from "vitest";
import { Memo } from "../../src/translate/memo.js";

describe("Memo", () => {
  it("keeps a keyed value for the next translation, and forgets it after one that does not use it", () => {
    const memo = new Memo();
    const table = memo.keyed<string>();
    let computed = 0;
    const get = (key: string) =>
      table.get(key, () => {
        computed += 1;
        return `value of ${key}`;
      });

    memo.begin();
    const first = get("a");
    expect(get("a")).toBe(first);
    memo.commit();
    memo.begin();
    expect(get("a")).toBe(first);
    memo.commit();
    expect(computed).toBe(1);

    memo.begin(); // does not use "a"
    get("b");
    memo.commit();
    memo.begin();
    const again = get("a");
    memo.commit();
    expect(computed).toBe(3);
    expect(again.value).toBe(first.value);
    expect(again.id).not.toBe(first.id);
  });

  it("forgets what a translation that did not complete computed", () => {
    const memo = new Memo();
    const table = memo.keyed<number>();
    memo.begin();
    const kept = table.get("k", () => 1);
    memo.commit();
    memo.begin();
    table.get("other", () => 2);
    // No commit: the next translation starts from what the last completed one used.
    memo.begin();
    expect(table.get("k", () => 3)).toBe(kept);
  });

  it("keeps a value per object and variant, across translations, with its own id", () => {
    const memo = new Memo();
    const table = memo.byObject<object, string>();
    const route = {};
    const envoy = table.get(route, "envoy", () => "for envoy");
    const grpc = table.get(route, "grpc", () => "for grpc");
    memo.begin();
    memo.commit();
    expect(table.get(route, "envoy", () => "rebuilt")).toBe(envoy);
    expect(grpc.value).toBe("for grpc");
    expect(new Set([envoy.id, grpc.id, table.get({}, "envoy", () => "other").id]).size).toBe(3);
  });
});
