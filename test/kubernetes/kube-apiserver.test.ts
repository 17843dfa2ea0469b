// Workload identity by TokenReview and leader election by Lease, against a real kube-apiserver
// (etcd behind it; no controllers run). Tokens are issued by the apiserver's own TokenRequest API.
import { decodeJwt, exportPKCS8, generateKeyPair, importPKCS8, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, LeaderElector, TokenReviewAttestor } from "../../src/kubernetes/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { AttestationError } from "../../src/trust/attestor.js";
import { waitFor } from "../support/wait.js";
import { haveApiserver, startApiserver, type TestApiserver } from "./apiserver.js";

const logger = createLogger({ service: "test", level: "silent" });

/** The apiserver's client with its requests replaced (an unreachable or a cut-off apiserver). */
function withRequests(api: KubeApi, request: KubeApi["request"]): KubeApi {
  return {
    server: api.server,
    request,
    list: (path, args) => api.list(path, args),
    watch: (path, version, onEvent, args) => api.watch(path, version, onEvent, args),
  };
}

async function createObject(api: KubeApi, path: string, body: object): Promise<void> {
  await api.request("POST", path, { body });
}

/** A token for `namespace/serviceAccount`, from the apiserver's TokenRequest API. */
async function requestToken(api: KubeApi, namespace: string, serviceAccount: string, audiences: string[]) {
  const answer = await api.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences, expirationSeconds: 600 },
      },
    },
  );
  return answer.status.token;
}

describe.skipIf(!haveApiserver())("against a real kube-apiserver", () => {
  let kube: TestApiserver;

  beforeAll(async () => {
    kube = await startApiserver();
    await createObject(kube.api, "/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "shop" },
    });
    for (const name of ["cart", "gone"]) {
      await createObject(kube.api, "/api/v1/namespaces/shop/serviceaccounts", {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name },
      });
    }
  }, 120_000);

  afterAll(async () => {
    await kube?.stop();
  });

  describe("TokenReviewAttestor", () => {
    const attestor = () => new TokenReviewAttestor({ api: kube.api, audiences: ["gantry"], cluster: "east" });

    it("attests a projected service-account token meant for Gantry: its namespace and service account", async () => {
      const token = await requestToken(kube.api, "shop", "cart", ["gantry"]);
      await expect(attestor().attest(token)).resolves.toEqual({
        namespace: "shop",
        serviceAccount: "cart",
        cluster: "east",
      });
    });

    it("refuses a forged token (same claims, another key) without ever showing it", async () => {
      const token = await requestToken(kube.api, "shop", "cart", ["gantry"]);
      const { privateKey } = await generateKeyPair("RS256", { extractable: true });
      const key = await importPKCS8(await exportPKCS8(privateKey), "RS256");
      const forged = await new SignJWT(decodeJwt(token)).setProtectedHeader({ alg: "RS256" }).sign(key);
      const error = await attestor()
        .attest(forged)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AttestationError);
      expect((error as AttestationError).reason).toBe("invalid");
      expect((error as AttestationError).message).toMatch(/service-account token refused by the Kubernetes API/);
      expect((error as AttestationError).message).not.toContain(forged.split(".")[2]);
    });

    it("refuses a valid token meant for another audience", async () => {
      const token = await requestToken(kube.api, "shop", "cart", ["vault"]);
      await expect(attestor().attest(token)).rejects.toMatchObject({ reason: "invalid" });
    });

    it("refuses the token of a service account deleted since it was issued", async () => {
      const token = await requestToken(kube.api, "shop", "gone", ["gantry"]);
      await expect(attestor().attest(token)).resolves.toMatchObject({ serviceAccount: "gone" });
      await kube.api.request("DELETE", "/api/v1/namespaces/shop/serviceaccounts/gone");
      await waitFor(
        async () =>
          await attestor()
            .attest(token)
            .then(
              () => false,
              () => true,
            ),
        {
          what: "the deleted account's token to be refused",
        },
      );
    });

    it("says the API is unavailable (not that the token is bad) when it cannot ask", async () => {
      const unreachable = withRequests(kube.api, () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:1")));
      const token = await requestToken(kube.api, "shop", "cart", ["gantry"]);
      const error = (await new TokenReviewAttestor({ api: unreachable, audiences: ["gantry"] })
        .attest(token)
        .catch((e: unknown) => e)) as AttestationError;
      expect(error.reason).toBe("unavailable");
      expect(error.message).not.toContain(token);
    });
  });

  describe("LeaderElector", () => {
    const electors: LeaderElector[] = [];
    const readLease = () =>
      kube.api.request<{ spec: Record<string, unknown> }>(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/gantry-server",
      );
    afterAll(async () => {
      for (const e of electors) await e.stop();
    });
    const elector = (identity: string) => {
      const e = new LeaderElector({
        api: kube.api,
        namespace: "default",
        name: "gantry-server",
        identity,
        leaseDurationMs: 3_000,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 250,
        logger,
      });
      electors.push(e);
      return e;
    };

    it("two replicas: one holds the Lease; when it stops, the other takes over within the lease duration", async () => {
      const a = elector("replica-a");
      const b = elector("replica-b");
      a.start();
      await waitFor(() => a.isLeader, { what: "replica-a to lead" });
      b.start();
      await waitFor(() => b.holder === "replica-a", { what: "replica-b to see replica-a's Lease" });
      // Three renewals later (more than the lease duration), still one holder, and b never led.
      const bLed: boolean[] = [];
      b.onChange((leading) => bLed.push(leading));
      const renewals = new Set<unknown>();
      await waitFor(
        async () => {
          const lease = await readLease();
          expect(lease.spec).toMatchObject({ holderIdentity: "replica-a", leaseDurationSeconds: 3 });
          renewals.add(lease.spec["renewTime"]);
          return renewals.size > 3;
        },
        { timeoutMs: 5_000, intervalMs: 200, what: "three renewals by replica-a" },
      );
      expect([a.isLeader, b.isLeader, bLed]).toEqual([true, false, []]);

      const stoppedAt = Date.now();
      await a.stop();
      await waitFor(() => b.isLeader, { timeoutMs: 3_000, what: "replica-b to take over" });
      expect(Date.now() - stoppedAt).toBeLessThan(3_000);
      expect(a.isLeader).toBe(false);
    });

    it("a holder cut off from the apiserver stops leading before another takes over, within the lease duration and a retry", async () => {
      let cut = false;
      const cutApi = withRequests(kube.api, (method, path, args) =>
        cut ? Promise.reject(new Error("connect ECONNREFUSED")) : kube.api.request(method, path, args),
      );
      const c = new LeaderElector({
        api: cutApi,
        namespace: "default",
        name: "gantry-cut",
        identity: "replica-c",
        leaseDurationMs: 3_000,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 250,
        logger,
      });
      electors.push(c);
      const d = new LeaderElector({
        api: kube.api,
        namespace: "default",
        name: "gantry-cut",
        identity: "replica-d",
        leaseDurationMs: 3_000,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 250,
        logger,
      });
      electors.push(d);
      c.start();
      await waitFor(() => c.isLeader, { what: "replica-c to lead" });
      d.start();
      await waitFor(() => d.holder === "replica-c", { what: "replica-d to see replica-c's Lease" });
      let cStoppedAt = 0;
      let dLeadsAt = 0;
      c.onChange((leading) => {
        if (!leading) cStoppedAt = Date.now();
      });
      d.onChange((leading) => {
        if (leading) dLeadsAt = Date.now();
      });
      const cutAt = Date.now();
      cut = true;
      await waitFor(() => d.isLeader, { timeoutMs: 6_000, what: "replica-d to take over" });
      expect(cStoppedAt).toBeGreaterThan(0);
      expect(dLeadsAt).toBeGreaterThan(cStoppedAt);
      expect(dLeadsAt - cutAt).toBeLessThan(3_000 + 2 * 250 + 500);
    });
  });
});
