// KubeClient against a small stand-in API server: credentials from the kubeconfig on every call,
// a watch read line by line as it streams, Status messages and codes as errors (also inside a watch).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateRelayCa, issueServingCertificate, loadRelayCa } from "../../src/cluster/index.js";
import {
  KubeApiError,
  KubeClient,
  type KubeObject,
  loadKubeConfig,
  type WatchEvent,
} from "../../src/kubernetes/index.js";

let server: Server;
let client: KubeClient;
const dir = mkdtempSync(join(tmpdir(), "gantry-kube-client-"));
const seen: Array<{ method: string; url: string; auth: string; type: string; body: string }> = [];
let onWatch: ((res: ServerResponse) => void) | undefined;

function handle(req: IncomingMessage, res: ServerResponse, body: string) {
  seen.push({
    method: req.method ?? "",
    url: req.url ?? "",
    auth: req.headers.authorization ?? "",
    type: req.headers["content-type"] ?? "",
    body,
  });
  const url = new URL(req.url ?? "/", "http://x");
  res.setHeader("content-type", "application/json");
  if (url.searchParams.get("watch") === "1") {
    res.writeHead(200);
    onWatch?.(res);
    return;
  }
  if (url.pathname.endsWith("/missing")) {
    res.writeHead(404);
    res.end(JSON.stringify({ kind: "Status", code: 404, message: 'routetables.gantry.dev "missing" not found' }));
    return;
  }
  if (req.method === "PATCH") {
    res.end(JSON.stringify({ metadata: { name: "a", resourceVersion: "9" } }));
    return;
  }
  res.end(JSON.stringify({ items: [{ metadata: { name: "a" } }], metadata: { resourceVersion: "7" } }));
}

beforeAll(async () => {
  const ca = await loadRelayCa(await generateRelayCa(Date.now(), "test.local"), { cert: "ca", key: "ca" });
  const serving = await issueServingCertificate(ca, { dns: [], ips: ["127.0.0.1"] }, Date.now(), 3_600_000);
  server = createServer({ cert: serving.chainPem, key: serving.keyPem }, (req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
  - name: c
    cluster:
      server: "https://127.0.0.1:${(server.address() as AddressInfo).port}"
      certificate-authority-data: ${Buffer.from(ca.certPem).toString("base64")}
users: [{ name: u, user: { token: sekret-token } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
  );
  client = new KubeClient(await loadKubeConfig({ kubeconfig }));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe("KubeClient", () => {
  it("lists with the kubeconfig's token and returns the list's resourceVersion", async () => {
    const list = await client.list("/apis/gantry.dev/v1/routetables");
    expect(list).toEqual({ items: [{ metadata: { name: "a" } }], metadata: { resourceVersion: "7" } });
    expect(seen.at(-1)).toMatchObject({ method: "GET", auth: "Bearer sekret-token" });
  });

  it("streams a watch's events as they come, with bookmarks asked for, until the server ends it", async () => {
    onWatch = (res) => {
      res.write(`${JSON.stringify({ type: "ADDED", object: { metadata: { name: "a", resourceVersion: "8" } } })}\n`);
      // One event split across two writes, then the end.
      const second = JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "12" } } });
      res.write(second.slice(0, 10));
      setImmediate(() => res.end(`${second.slice(10)}\n`));
    };
    const events: WatchEvent<KubeObject>[] = [];
    await client.watch<KubeObject>("/apis/gantry.dev/v1/routetables", "7", (e) => events.push(e));
    expect(events.map((e) => [e.type, e.object.metadata?.resourceVersion])).toEqual([
      ["ADDED", "8"],
      ["BOOKMARK", "12"],
    ]);
    const query = new URL(seen.at(-1)?.url ?? "", "http://x").searchParams;
    expect(Object.fromEntries(query)).toMatchObject({ watch: "1", resourceVersion: "7", allowWatchBookmarks: "true" });
  });

  it("fails a watch cut short, so that it is resumed", async () => {
    onWatch = (res) => {
      res.write(`${JSON.stringify({ type: "ADDED", object: { metadata: { name: "b" } } })}\n`);
      setImmediate(() => res.socket?.destroy());
    };
    const events: WatchEvent<KubeObject>[] = [];
    await expect(
      client.watch<KubeObject>("/apis/gantry.dev/v1/routetables", "8", (e) => events.push(e)),
    ).rejects.toThrow();
    expect(events).toHaveLength(1);
  });

  it("fails a watch with the Status of an ERROR event inside the stream (410: the version was compacted)", async () => {
    onWatch = (res) => {
      const status = { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 3 (39)" };
      res.end(`${JSON.stringify({ type: "ERROR", object: status })}\n`);
    };
    const error = await client.watch("/apis/gantry.dev/v1/routetables", "3", () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({ status: 410, reason: "Expired" });
  });

  it("patches a status as a JSON merge patch, and reports a Status as a KubeApiError with its code", async () => {
    await client.request("PATCH", "/apis/gantry.dev/v1/namespaces/s/routetables/a/status", {
      body: { status: { state: "Accepted" } },
      contentType: "application/merge-patch+json",
    });
    expect(seen.at(-1)).toMatchObject({
      method: "PATCH",
      type: "application/merge-patch+json",
      body: '{"status":{"state":"Accepted"}}',
    });
    const error = await client
      .request("GET", "/apis/gantry.dev/v1/namespaces/s/routetables/missing")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({ status: 404 });
    expect((error as Error).message).toContain('routetables.gantry.dev "missing" not found');
  });

  it("names the kubeconfig file it cannot read", async () => {
    await expect(loadKubeConfig({ kubeconfig: join(dir, "nope") })).rejects.toThrow(
      `--kubeconfig ${join(dir, "nope")}:`,
    );
  });
});
