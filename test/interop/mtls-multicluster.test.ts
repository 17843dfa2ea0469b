// Workload trust end to end across two clusters, Go gRPC on both ends, every part a real process
// (#20): one `gantry server` (the root CA) on redis-server, agents for `east` and `west` registered
// with `gantry cluster add` tokens, an xDS-enabled Go gRPC server in west and Go clients in east.
// Each workload proves who it is to its own agent with a Gantry workload token and reads the
// certificate files that agent writes and rotates (gRPC's `file_watcher` provider `gantry`); the
// server's Listener (TLS, RBAC) and the clients' security config come from the agents' xDS.
// Short lifetimes (workload certificates 30 s, intermediates 90 s, the bundle asked for every
// second) make every rotation happen within the test.
import { X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRelayCa } from "../../src/cluster/pki.js";
import { issueWorkloadCertificate, newWorkloadKey } from "../../src/trust/ca.js";
import { workloadCaFile } from "../../src/trust/index.js";
import { runGantry } from "../support/cli.js";
import { type Fleet, startFleet } from "../support/fleet.js";
import {
  type GoClient,
  GoWorkloads,
  goMtlsBinary,
  greeterPolicies,
  greeterResources,
  whoami,
} from "../support/go-mtls.js";
import { portForLater } from "../support/ports.js";
import { haveRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";
import { makeWorkloadPki } from "../support/workload-pki.js";
import { blocks, chainsTo } from "../trust/tls.js";

const binary = goMtlsBinary();
const clusters = ["east", "west"] as const;
type Cluster = (typeof clusters)[number];
const trustDomain = "gantry.local";
const namespace = "mtls";
const target = "xds:///greeter.mtls";
/** A CLI run starts a Node process: seconds on a loaded machine. */
const gantry = (args: readonly string[]) => runGantry(args, { timeoutMs: 60_000 });
const spiffeId = (serviceAccount: string) => `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;

/** A workload's folder of the three files (the agent's `--workload-certs-dir/<ns>/<sa>`, or one made here). */
interface Files {
  dir: string;
  chain(): Promise<string>;
  roots(): Promise<string>;
}

function filesIn(dir: string): Files {
  const read = (name: string) => readFile(join(dir, name), "utf8").catch(() => "");
  return { dir, chain: () => read("cert-chain.pem"), roots: () => read("root-cert.pem") };
}

const uriOf = (pem: string | undefined) => (pem ? new X509Certificate(pem).subjectAltName : undefined);

describe.skipIf(!binary || !haveRedis())("workload trust across two clusters, Go gRPC on both ends", () => {
  let fleet: Fleet<Cluster>;
  let serverPort: number;
  const go = new GoWorkloads(binary ?? "");
  const workloads = new Map<string, Files>();
  const workload = (name: string) => workloads.get(name) as Files;

  /** Proves `serviceAccount` to `cluster`'s agent with a workload token; resolves once the agent wrote its files. */
  const enrolWorkload = async (cluster: Cluster, serviceAccount: string): Promise<Files> => {
    const minted = await gantry([
      ...["workload", "token", "--data-dir", fleet.agent(cluster).dataDir, "--cluster", cluster],
      ...["--namespace", namespace, "--service-account", serviceAccount],
    ]);
    if (minted.code !== 0) throw new Error(`gantry workload token: ${minted.stderr}`);
    await writeFile(join(fleet.dir(cluster), "tokens", `${serviceAccount}.token`), minted.stdout.trim());
    const files = filesIn(join(fleet.dir(cluster), "certs", namespace, serviceAccount));
    await waitFor(async () => (await files.chain()) !== "" && (await files.roots()) !== "", {
      timeoutMs: 60_000,
      what: `${cluster}'s agent to write ${serviceAccount}'s certificate files`,
    });
    workloads.set(serviceAccount, files);
    return files;
  };

  const client = async (name: string, certsDir: string): Promise<GoClient> => {
    const bootstrap = fleet.bootstrap("east", {
      nodeId: `caller-${name}`,
      labels: { app: "mtls-caller" },
      certsDir,
      certsRefreshSeconds: 1,
    });
    return go.client(bootstrap);
  };

  beforeAll(async () => {
    serverPort = await portForLater();
    fleet = await startFleet({
      name: "mtls-multicluster",
      clusters,
      replicas: ["first"],
      // The greeter in west (a Destination placed there, served by a GRPC_SERVER gateway there), and east's callers.
      world: greeterResources({
        namespace,
        serverPort,
        allowed: spiffeId("web"),
        denied: spiffeId("batch"),
        placement: { server: "west", callers: "east" },
      }),
      serverArgs: ["--cluster-ca-ttl-seconds", "90"],
      agentArgs: (_cluster, dir) => [
        ...["--workload-tokens-dir", join(dir, "tokens"), "--workload-certs-dir", join(dir, "certs")],
        ...["--workload-cert-ttl-seconds", "30", "--trust-bundle-refresh-seconds", "1"],
      ],
    });
    for (const c of clusters) {
      await mkdir(join(fleet.dir(c), "tokens"), { recursive: true });
      await fleet.startAgent(c);
    }
    const greeter = await enrolWorkload("west", "greeter");
    await go.server(
      `127.0.0.1:${serverPort}`,
      fleet.bootstrap("west", {
        nodeId: "greeter-1",
        labels: { app: "greeter-server" },
        certsDir: greeter.dir,
        certsRefreshSeconds: 1,
      }),
      60_000,
    );
    for (const caller of ["web", "batch"]) await enrolWorkload("east", caller);
  }, 240_000);

  afterAll(async () => {
    await go.stop();
    await fleet?.stop();
  });

  it("each workload's certificate comes from its own cluster's intermediate, under the one root", async () => {
    const bundle = (await gantry(["ca", "show", "-o", "pem", "--server", fleet.replicas[0]?.apiUrl ?? ""])).stdout;
    for (const [name, cluster] of [
      ["greeter", "west"],
      ["web", "east"],
      ["batch", "east"],
    ] as const) {
      const chain = blocks(await workload(name).chain());
      expect(uriOf(chain[0])).toBe(`URI:${spiffeId(name)}`);
      expect(uriOf(chain[1])).toBe(`URI:spiffe://${trustDomain}/cluster/${cluster}`);
      expect(chainsTo(chain.join(""), bundle)).toBe(true);
      expect(await workload(name).roots()).toBe(bundle);
    }
  });

  it("a call from east to west succeeds over mTLS and the server sees the caller's SPIFFE ID", async () => {
    const web = await client("web", workload("web").dir);
    const result = await waitFor(
      async () => {
        const r = await web.run({ target, method: whoami, calls: 5, timeoutMs: 5_000 });
        return r.codes["0"] === 5 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "east's web to reach west's greeter" },
    );
    expect(result.identities).toEqual({ [spiffeId("web")]: 5 });
  }, 90_000);

  it("refuses a caller without a certificate, with one from another root, or an expired one", async () => {
    const address = `127.0.0.1:${serverPort}`;
    const bundle = await workload("web").roots();
    const plain = await client("plain", workload("web").dir);
    expect((await plain.run({ target: address, creds: "tls", calls: 1 })).codes).toEqual({ "14": 1 });
    expect((await plain.run({ target: address, creds: "insecure", calls: 1 })).codes).toEqual({ "14": 1 });

    // Another root's certificate for the same identity, beside the real bundle: the server refuses it.
    const stranger = await (await makeWorkloadPki(trustDomain)).workload(namespace, "web", {
      otherRoot: true,
      dirName: "stranger",
    });
    await writeFile(stranger.rootFile, bundle);
    // East's own intermediate signs a certificate whose life ended an hour ago.
    const expiredDir = join(fleet.root, "expired");
    await mkdir(expiredDir);
    const stored = JSON.parse(await readFile(join(fleet.agent("east").dataDir, workloadCaFile), "utf8")) as {
      certPem: string;
      chainPem: string[];
      key: { alg: string; data: string };
    };
    expect(stored.key.alg).toBe("none");
    const intermediate = await loadRelayCa(
      { certPem: stored.certPem, keyPem: stored.key.data },
      { cert: workloadCaFile, key: workloadCaFile },
    );
    const { keys, keyPem } = await newWorkloadKey();
    const hour = 3600_000;
    const old = await issueWorkloadCertificate(
      intermediate,
      keys.publicKey,
      spiffeId("web"),
      trustDomain,
      Date.now() - 3 * hour,
      2 * hour,
    );
    await writeFile(join(expiredDir, "cert-chain.pem"), [old.certPem, stored.certPem, ...stored.chainPem].join("\n"));
    await writeFile(join(expiredDir, "key.pem"), keyPem);
    await writeFile(join(expiredDir, "root-cert.pem"), bundle);

    for (const [name, dir] of [
      ["stranger", stranger.dir],
      ["expired", expiredDir],
    ] as const) {
      const refused = await (await client(name, dir)).run({ target, method: whoami, calls: 2 });
      expect(refused.codes, `${name}: ${refused.errors.join("; ")}`).toEqual({ "14": 2 });
      const direct = await plain.run({
        target: address,
        creds: "tls",
        certFile: join(dir, "cert-chain.pem"),
        keyFile: join(dir, "key.pem"),
        calls: 1,
      });
      expect(direct.codes, `${name} presented directly`).toEqual({ "14": 1 });
    }
  }, 90_000);

  it("enforces an AccessPolicy in the Go server, and a change to it within a second", async () => {
    const web = await client("web-2", workload("web").dir);
    const batch = await client("batch", workload("batch").dir);
    expect((await web.run({ target, method: whoami, calls: 3 })).codes).toEqual({ "0": 3 });
    expect((await batch.run({ target, method: whoami, calls: 3 })).codes).toEqual({ "7": 3 });

    const changed = Date.now();
    await fleet.store.apply(greeterPolicies(namespace, spiffeId("batch"), spiffeId("web")));
    const tookMs = await waitFor(
      async () => {
        const [b, w] = await Promise.all([
          batch.run({ target, method: whoami, calls: 1, timeoutMs: 1_000 }),
          web.run({ target, method: whoami, calls: 1, timeoutMs: 1_000 }),
        ]);
        return b.codes["0"] === 1 && w.codes["7"] === 1 ? Date.now() - changed : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 10, what: "the changed AccessPolicy to be enforced" },
    );
    console.log(`AccessPolicy change at the server enforced by the Go server in west after ${tookMs} ms`);
    expect(tookMs).toBeLessThan(1_000);
    expect((await batch.run({ target, method: whoami, calls: 3 })).identities).toEqual({ [spiffeId("batch")]: 3 });
  }, 60_000);

  it("workload, intermediate and root rotations under load: no call fails", async () => {
    // The previous test left `batch` allowed. One client makes a new channel (a new TLS handshake,
    // with the files of that moment) for every batch; the other keeps its connection.
    const fresh = await client("load-fresh", workload("batch").dir);
    const steady = await client("load-steady", workload("batch").dir);
    let loading = true;
    /** Batches made, on new channels and on the kept one. */
    const batches = { fresh: 0, kept: 0 };
    /** Failed batches: how many, and the first few as they were answered. */
    let failedBatches = 0;
    const failed: string[] = [];
    const loop = async (caller: GoClient, newChannel: boolean) => {
      while (loading) {
        const r = await caller.run({
          target,
          method: whoami,
          calls: 4,
          concurrency: 2,
          timeoutMs: 5_000,
          fresh: newChannel,
        });
        batches[newChannel ? "fresh" : "kept"] += 1;
        // Over mTLS, as batch: the server saw the caller's certificate on every call.
        if (r.codes["0"] !== 4 || r.identities[spiffeId("batch")] !== 4) {
          failedBatches += 1;
          if (failed.length < 5) failed.push(`${newChannel ? "new channel" : "kept channel"}: ${JSON.stringify(r)}`);
        }
      }
    };
    const load = Promise.all([loop(fresh, true), loop(steady, false)]);
    /** Per workload (caller in east, server in west): the chain last seen, and which rotations were seen. */
    const watched = ["batch", "greeter"].map((name) => ({ name, last: [] as string[], seen: new Set<string>() }));
    const look = async () => {
      for (const w of watched) {
        const chain = blocks(await workload(w.name).chain());
        if (w.last.length > 0 && chain[0] !== w.last[0]) {
          w.seen.add(chain[1] === w.last[1] ? "workload" : "intermediate");
        }
        w.last = chain;
      }
    };
    try {
      await look();
      await waitFor(
        async () => {
          await look();
          return watched.every((w) => w.seen.has("workload") && w.seen.has("intermediate"));
        },
        {
          timeoutMs: 180_000,
          intervalMs: 200,
          what: "a workload and an intermediate rotation on both sides",
        },
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${watched.map((w) => `${w.name} saw ${[...w.seen]}`).join(", ")}`);
      });
      expect(batches.fresh).toBeGreaterThan(0);

      const apiUrl = fleet.replicas[0]?.apiUrl ?? "";
      const rotated = await gantry(["ca", "rotate", "--transition-seconds", "600", "--server", apiUrl]);
      expect(rotated.code, rotated.stderr).toBe(0);
      const bundle = (await gantry(["ca", "show", "-o", "pem", "--server", apiUrl])).stdout;
      const newRoot = blocks(bundle)[1] as string;
      expect(newRoot).toBeDefined();
      // Each side holds both roots and a certificate from the new one, through its cross certificate.
      await waitFor(
        async () => {
          for (const w of watched) {
            const files = workload(w.name);
            const chain = await files.chain();
            if ((await files.roots()) !== bundle || !chainsTo(chain, newRoot) || blocks(chain).length !== 3) {
              return false;
            }
          }
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: "both sides' certificates from the new root" },
      );
      // Handshakes with the new certificates before the load stops: gRPC reads the files every
      // second (refresh_interval), so new channels opened 3 s after both sides had them use them.
      const settled = { batches: batches.fresh, at: Date.now() };
      await waitFor(() => batches.fresh >= settled.batches + 20 && Date.now() - settled.at >= 3_000, {
        timeoutMs: 60_000,
        what: "3 s and 20 more new channels after the root rotation",
      });
    } finally {
      loading = false;
      await load;
    }
    console.log(
      `rotations under load: ${batches.fresh} batches of 4 calls on new channels, ${batches.kept} on a kept one; ${failedBatches} failed`,
    );
    expect(failedBatches, failed.join("\n")).toBe(0);
  }, 330_000);
});
