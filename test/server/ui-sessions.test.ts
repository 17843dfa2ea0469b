// The dashboard's sealed values (login state, sessions) and sign-outs: what one replica seals
// another opens with the same key file, rotation with two keys, a value sealed for one purpose
// never passes for the other, and key files' errors name the file and line without a key.
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { isSealed, parseSessionKeyFile, SealingKeys } from "../../src/server/ui/sealed.js";
import { MemorySignOuts } from "../../src/server/ui/signouts.js";

const hexKey = "a1".repeat(32);
const otherKey = Buffer.alloc(32, 7);

describe("SealingKeys", () => {
  it("opens on any replica with the same keys what another sealed, for the same purpose only", () => {
    const a = parseSessionKeyFile(`${hexKey}\n`, "keys");
    const b = parseSessionKeyFile(`# the same file\n\n${hexKey}\n`, "keys");
    const sealed = a.seal("ui-session", { sid: "s1", role: "viewer" });
    expect(isSealed(sealed)).toBe(true);
    expect(sealed.split(".")).toHaveLength(3);
    expect(b.open("ui-session", sealed)).toEqual({ sid: "s1", role: "viewer" });
    // A login cookie cannot stand in for a session, nor the other way round.
    expect(b.open("ui-login", sealed)).toBeUndefined();
    // Another key, a changed byte, a JWT: not ours.
    expect(new SealingKeys([otherKey]).open("ui-session", sealed)).toBeUndefined();
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith("A") ? "B" : "A"}A`;
    expect(b.open("ui-session", tampered)).toBeUndefined();
    expect(b.open("ui-session", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")).toBeUndefined();
  });

  it("rotates: the first key seals, every key opens", () => {
    const old = new SealingKeys([otherKey]);
    const during = parseSessionKeyFile(`${hexKey}\n${otherKey.toString("base64")}\n`, "keys");
    const after = parseSessionKeyFile(`${hexKey}\n`, "keys");
    const sealedBefore = old.seal("ui-session", { n: 1 });
    expect(during.open("ui-session", sealedBefore)).toEqual({ n: 1 });
    const sealedDuring = during.seal("ui-session", { n: 2 });
    expect(after.open("ui-session", sealedDuring)).toEqual({ n: 2 });
    // Once the old key is dropped, what it sealed is refused.
    expect(after.open("ui-session", sealedBefore)).toBeUndefined();
  });

  it("refuses bad key files naming the file and line, never showing a key", () => {
    expect(() => parseSessionKeyFile("", "/etc/gantry/keys")).toThrow("/etc/gantry/keys: no key");
    expect(() => parseSessionKeyFile(`${hexKey}\nnot-a-key-secret\n`, "/k")).toThrow(
      "/k line 2: expected a key of 32 bytes as 64 hex digits or base64",
    );
    expect(() => parseSessionKeyFile(`${hexKey}\nnot-a-key-secret\n`, "/k")).not.toThrow(/not-a-key-secret/);
    expect(() => parseSessionKeyFile(`${hexKey}\n${hexKey.toUpperCase()}\n`, "/k")).toThrow(
      "/k line 2: the same key is listed twice",
    );
  });
});

describe("MemorySignOuts", () => {
  it("holds a sign-out until the session would have expired, then forgets it", async () => {
    const clock = new ManualClock(1_000);
    const signOuts = new MemorySignOuts(clock);
    await signOuts.signOut("s1", 5_000);
    expect(await signOuts.signedOut("s1")).toBe(true);
    expect(await signOuts.signedOut("s2")).toBe(false);
    clock.advance(4_000);
    expect(await signOuts.signedOut("s1")).toBe(false);
  });
});
