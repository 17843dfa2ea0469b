import { describe, expect, it } from "vitest";
import {
  kindKey,
  namespacedName,
  parseRefKey,
  parseResources,
  refKey,
  refName,
  refOf,
  resourceKey,
} from "../../src/resources/index.js";

describe("resource references", () => {
  it("spell a key Kind/namespace/name, and read it back", () => {
    const ref = { kind: "RouteTable", namespace: "shop", name: "web" };
    expect(refKey(ref)).toBe("RouteTable/shop/web");
    expect(parseRefKey("RouteTable/shop/web")).toEqual(ref);
    expect(namespacedName(ref)).toBe("shop/web");
    expect(kindKey("RouteTable", namespacedName(ref))).toBe(refKey(ref));
  });

  it("round-trip every name the name rule allows: dots, dashes, leading digits, 253 characters", () => {
    const long = `a${"-b.c".repeat(62)}-9.d`;
    expect(long.length).toBe(253);
    for (const ref of [
      { kind: "Destination", namespace: "team-1", name: "0.api-v2.example.com" },
      { kind: "Secret", namespace: "a.b", name: "x" },
      { kind: "Gateway", namespace: long, name: long },
    ]) {
      expect(parseRefKey(refKey(ref))).toEqual(ref);
    }
  });

  it("keep a '/' in the name (names from the API are looked up before they are checked)", () => {
    const ref = { kind: "Destination", namespace: "shop", name: "a/b" };
    expect(refKey(ref)).toBe("Destination/shop/a/b");
    expect(parseRefKey("Destination/shop/a/b")).toEqual(ref);
  });

  it("refuse a malformed key, naming it", () => {
    for (const key of ["", "Gateway", "Gateway/edge", "Gateway//edge", "/default/edge", "Gateway/default/", "//"]) {
      expect(() => parseRefKey(key), key).toThrow(`malformed resource key ${JSON.stringify(key)}`);
    }
    expect(() => parseRefKey("Gateway/edge")).toThrow(/expected Kind\/namespace\/name/);
  });

  it("name a loaded resource by its kind and metadata, the namespace defaulted", () => {
    const { resources } = parseResources(
      "apiVersion: gantry/v1\nkind: Destination\nmetadata: { name: cart }\nspec: { ports: [{ number: 80 }] }\n",
      "d.yaml",
    );
    const [cart] = resources;
    if (!cart) throw new Error("not loaded");
    expect(refOf(cart)).toEqual({ kind: "Destination", namespace: "default", name: "cart" });
    expect(resourceKey(cart)).toBe("Destination/default/cart");
  });

  it("resolve a reference's empty namespace to the referrer's", () => {
    expect(refName({ namespace: "", name: "web" }, "shop")).toBe("shop/web");
    expect(refName({ namespace: "other", name: "web" }, "shop")).toBe("other/web");
  });
});
