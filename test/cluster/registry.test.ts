import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClusterRegistry,
  type ClusterStore,
  MemoryClusterStore,
  newCertificateRequest,
  parseToken,
  RedisClusterStore,
  RegistrationRefused,
} from "../../src/cluster/index.js";
import { makeCa } from "../support/certs.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";

const start = Date.UTC(2026, 11, 1);

function clockAt(ms: number) {
  const clock = { ms, now: () => clock.ms };
  return clock;
}

async function refused(promise: Promise<unknown>): Promise<RegistrationRefused> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistrationRefused);
  return err as RegistrationRefused;
}

const idSecret = (token: string) => {
  const t = parseToken(token);
  return `${t.id}.${t.secret}`;
};

describe("registration tokens", () => {
  it("carry the cluster and the CA pin, and name what is wrong without repeating the secret", async () => {
    const registry = await ClusterRegistry.open({ store: new MemoryClusterStore(), clock: clockAt(start) });
    const { token } = await registry.add("east");
    expect(parseToken(token)).toMatchObject({ cluster: "east", caPin: registry.ca.pin });
    expect(() => parseToken("kubeadm.abcdef")).toThrow("token: not a Gantry registration token");
    const [v, c, id, secret] = token.split(".");
    expect(() => parseToken(`${v}.${c}.${id}.${secret}.abc`)).toThrow("the CA pin must be 64 hex digits");
    expect(() => parseToken(`${v}.${c}.zz.${secret}.${"0".repeat(64)}`, "--token-file f")).toThrow(
      "--token-file f: the id part must be 16 hex digits",
    );
    const message = (() => {
      try {
        parseToken(`${v}.East.${id}.${secret}.${"0".repeat(64)}`);
      } catch (err) {
        return (err as Error).message;
      }
      return "";
    })();
    expect(message).toContain('token: cluster "East": must be a DNS label');
    expect(message).not.toContain(secret);
  });
});

describe("the registry's decisions", () => {
  it("enrolls once, refuses expired and foreign tokens, and keeps the replaced certificate until the next rotation", async () => {
    const clock = clockAt(start);
    const registry = await ClusterRegistry.open({
      store: new MemoryClusterStore(),
      clock,
      certificateTtlMs: 3_600_000,
    });
    const east = await registry.add("east");
    const west = await registry.add("west", 1_000);
    const { csrPem } = await newCertificateRequest("east");
    expect((await refused(registry.enroll({ cluster: "east", token: idSecret(west.token), csrPem }))).reason).toBe(
      "token_invalid",
    );
    expect((await refused(registry.enroll({ cluster: "east", token: "nope", csrPem }))).reason).toBe("token_malformed");
    expect(
      (await refused(registry.enroll({ cluster: "east", token: idSecret(east.token), csrPem: "garbage" }))).reason,
    ).toBe("csr_invalid");
    const first = await registry.enroll({ cluster: "east", token: idSecret(east.token), csrPem });
    expect(first.identity).toBe("spiffe://gantry.local/cluster/east");
    expect(first.notAfterMs).toBe(start + 3_600_000);
    const view = await registry.get("east");
    expect(view).toMatchObject({ state: "registered", tokenUsedAtMs: start, connected: false });
    clock.ms += 1_000;
    expect((await refused(registry.enroll({ cluster: "west", token: idSecret(west.token), csrPem }))).reason).toBe(
      "token_expired",
    );

    const serial1 = view?.certificate?.serial as string;
    const second = await registry.rotate("east", serial1, (await newCertificateRequest("east")).csrPem);
    const serial2 = (await registry.get("east"))?.certificate?.serial as string;
    expect(second.certPem).not.toBe(first.certPem);
    await registry.accept("east", serial1);
    await registry.rotate("east", serial2, (await newCertificateRequest("east")).csrPem);
    expect((await refused(registry.accept("east", serial1))).reason).toBe("certificate_revoked");
    await registry.accept("east", serial2);
    clock.ms = start + 1_000 + 3_600_000; // serial2 was issued at start + 1 s
    expect((await refused(registry.accept("east", serial2))).reason).toBe("certificate_revoked");
  });

  it("reports presence: connected while reports are fresh; removed clusters take none", async () => {
    const clock = clockAt(start);
    const registry = await ClusterRegistry.open({ store: new MemoryClusterStore(), clock, presenceTtlMs: 30_000 });
    await registry.add("east");
    const report = {
      connected: true,
      server: "replica-a",
      agentVersion: "0.1.0",
      snapshotVersion: "v7",
      resources: 12,
      proxies: 3,
    };
    await registry.report("east", report);
    expect(await registry.get("east")).toMatchObject({ connected: true, lastSeenMs: start, report });
    clock.ms += 30_000;
    expect((await registry.get("east"))?.connected).toBe(false);
    await registry.remove("east");
    expect((await refused(registry.report("east", report))).reason).toBe("cluster_revoked");
    expect((await registry.get("east"))?.report).toBeUndefined();
  });

  it("uses a CA you give, and names the flag when its key does not belong to it", async () => {
    const ca = await makeCa("Operator relay CA");
    const where = { cert: "--relay-ca-cert-file ca.pem", key: "--relay-ca-key-file ca-key.pem" };
    const registry = await ClusterRegistry.open({
      store: new MemoryClusterStore(),
      ca: { certPem: ca.cert, keyPem: ca.key, where },
    });
    expect(registry.ca.certPem.trim()).toBe(ca.cert.trim());
    const other = await makeCa("Another CA");
    await expect(
      ClusterRegistry.open({ store: new MemoryClusterStore(), ca: { certPem: ca.cert, keyPem: other.key, where } }),
    ).rejects.toThrow(
      "--relay-ca-key-file ca-key.pem: this key does not belong to the certificate --relay-ca-cert-file ca.pem",
    );
    const leaf = await ca.issue();
    await expect(
      ClusterRegistry.open({ store: new MemoryClusterStore(), ca: { certPem: leaf.cert, keyPem: leaf.key, where } }),
    ).rejects.toThrow("--relay-ca-cert-file ca.pem: not a CA certificate");
  });
});

describe.skipIf(!haveRedis())("the registry in Redis, shared by replicas", () => {
  let redis: RedisServer;
  const stores: ClusterStore[] = [];
  const open = async () => {
    const store = new RedisClusterStore({ url: redis.url });
    stores.push(store);
    return ClusterRegistry.open({ store });
  };

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    for (const store of stores) await store.close();
    await redis?.close();
  });

  it("shares one CA, and lets a token enroll exactly once across replicas racing for it", async () => {
    const [a, b] = await Promise.all([open(), open()]);
    expect(b.ca.pin).toBe(a.ca.pin);
    const { token } = await a.add("east");
    const requests = await Promise.all(Array.from({ length: 6 }, () => newCertificateRequest("east")));
    const outcomes = await Promise.allSettled(
      requests.map(({ csrPem }, i) => (i % 2 ? a : b).enroll({ cluster: "east", token: idSecret(token), csrPem })),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const reasons = outcomes.flatMap((o) =>
      o.status === "rejected" ? [(o.reason as RegistrationRefused).reason] : [],
    );
    expect(reasons).toEqual(Array(5).fill("token_used"));
    const c = await open();
    expect((await c.list()).map((v) => [v.name, v.state])).toEqual([["east", "registered"]]);
  });
});
