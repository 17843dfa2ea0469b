// Leader election on a Lease, exactly, with a manual clock and an in-memory Lease API that keeps the
// apiserver's rule that matters here (an update on an old resourceVersion is a 409 Conflict). The
// same electors run against the real apiserver in test/kubernetes/kube-apiserver.test.ts.
import { describe, expect, it } from "vitest";
import { type KubeApi, KubeApiError, LeaderElector, microTime } from "../../src/kubernetes/index.js";
import { ManualClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";

const logger = createLogger({ service: "test", level: "silent" });

interface StoredLease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: Record<string, unknown>;
}

/** One Lease store shared by the electors; each elector's view can be cut off (a network partition). */
class LeaseStore {
  lease: StoredLease | undefined;
  #version = 0;

  api(cut: () => boolean): KubeApi {
    return {
      server: "https://memory",
      list: () => Promise.reject(new Error("not used")),
      watch: () => Promise.reject(new Error("not used")),
      request: async <T>(method: string, _path: string, args: { body?: unknown } = {}): Promise<T> => {
        await Promise.resolve();
        if (cut()) throw new Error("connect ECONNREFUSED");
        const body = structuredClone(args.body) as StoredLease | undefined;
        switch (method) {
          case "GET":
            if (!this.lease) throw new KubeApiError("leases not found", 404, "NotFound");
            return structuredClone(this.lease) as T;
          case "POST":
            if (this.lease) throw new KubeApiError("already exists", 409, "AlreadyExists");
            this.lease = {
              ...(body as StoredLease),
              metadata: { ...(body as StoredLease).metadata, resourceVersion: String(++this.#version) },
            };
            return structuredClone(this.lease) as T;
          case "PUT":
            if (!this.lease || body?.metadata.resourceVersion !== this.lease.metadata.resourceVersion)
              throw new KubeApiError("the object has been modified", 409, "Conflict");
            this.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.#version) } };
            return structuredClone(this.lease) as T;
          default:
            throw new Error(`unexpected ${method}`);
        }
      },
    };
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Moves the clock in steps of `stepMs`, letting each step's Lease calls finish. */
async function run(clock: ManualClock, ms: number, stepMs = 100): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(stepMs);
    for (let i = 0; i < 5; i++) await settle();
  }
}

function elector(store: LeaseStore, clock: ManualClock, identity: string, cut = () => false) {
  const transitions: boolean[] = [];
  const e = new LeaderElector({
    api: store.api(cut),
    namespace: "gantry",
    name: "gantry-server",
    identity,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    timers: clock,
    logger,
  });
  e.onChange((leading) => transitions.push(leading));
  return { e, transitions };
}

describe("LeaderElector", () => {
  it("writes MicroTime as the apiserver reads it", () => {
    expect(microTime(Date.UTC(2026, 11, 3, 12, 0, 0, 42))).toBe("2026-12-03T12:00:00.042000Z");
  });

  it("refuses timings that would let two replicas lead at once", () => {
    const store = new LeaseStore();
    expect(
      () =>
        new LeaderElector({
          api: store.api(() => false),
          namespace: "gantry",
          name: "l",
          identity: "a",
          leaseDurationMs: 10_000,
          renewDeadlineMs: 10_000,
          logger,
        }),
    ).toThrow(/retry period \(2000 ms\) < renew deadline \(10000 ms\) < lease duration \(10000 ms\)/);
  });

  it("two electors: one holds the Lease and keeps it; the other takes over once it is released", async () => {
    const clock = new ManualClock();
    const store = new LeaseStore();
    const a = elector(store, clock, "replica-a");
    const b = elector(store, clock, "replica-b");
    a.e.start();
    await settle();
    b.e.start();
    await run(clock, 30_000);
    expect(a.e.isLeader).toBe(true);
    expect(b.e.isLeader).toBe(false);
    expect(b.e.holder).toBe("replica-a");
    expect(store.lease?.spec).toMatchObject({
      holderIdentity: "replica-a",
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });

    await a.e.stop();
    expect(a.transitions).toEqual([true, false]);
    expect(store.lease?.spec["holderIdentity"]).toBeUndefined();
    // Released: taken at b's next read, within one retry period.
    await run(clock, 2_000);
    expect(b.e.isLeader).toBe(true);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: "replica-b", leaseTransitions: 1 });
    await b.e.stop();
  });

  it("a holder cut off stops leading after its renew deadline; the other leads only after the lease duration", async () => {
    const clock = new ManualClock();
    const store = new LeaseStore();
    let cut = false;
    const a = elector(store, clock, "replica-a", () => cut);
    const b = elector(store, clock, "replica-b");
    a.e.start();
    await settle();
    b.e.start();
    await run(clock, 4_000);
    expect(a.e.isLeader).toBe(true);
    const lastRenew = store.lease?.spec["renewTime"];

    cut = true;
    const cutAt = clock.now();
    let aStoppedAt = 0;
    let bLeadsAt = 0;
    a.e.onChange((leading) => {
      if (!leading) aStoppedAt = clock.now();
    });
    b.e.onChange((leading) => {
      if (leading) bLeadsAt = clock.now();
    });
    await run(clock, 25_000);
    expect(store.lease?.spec["renewTime"]).not.toBe(lastRenew);
    // Never two leaders: a stopped (renew deadline) before b started (lease duration after b last saw a renewal).
    expect(aStoppedAt - cutAt).toBeLessThanOrEqual(10_000 + 2_000);
    expect(bLeadsAt).toBeGreaterThan(aStoppedAt);
    // b saw a's last renewal at its next read (≤ one period after it), waits the duration from then,
    // and takes the Lease at its first read after that (≤ one more period).
    expect(bLeadsAt - cutAt).toBeLessThanOrEqual(15_000 + 2 * 2_000);
    expect(b.e.isLeader).toBe(true);

    // a comes back: it sees b's Lease and does not take it.
    cut = false;
    await run(clock, 10_000);
    expect(a.e.isLeader).toBe(false);
    expect(b.e.isLeader).toBe(true);
    await a.e.stop();
    await b.e.stop();
  });
});
