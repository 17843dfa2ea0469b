import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedis, parseRedisUrl, type RedisClient, waitForRedis } from "../../src/lib/redis.js";
import { RedisStore } from "../../src/store/index.js";
import { makeTlsFiles, type TlsTestFiles } from "../support/certs.js";
import { freePort } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { haveRedis } from "../support/redis.js";
import { findTool } from "../support/tools.js";

describe("Redis URL TLS parameters", () => {
  it("reads tls_ca_file, tls_cert_file and tls_key_file from a rediss:// query", () => {
    expect(
      parseRedisUrl(
        "rediss://alice:p?ss@cache:6380/1?tls_ca_file=/etc/ca.pem&tls_cert_file=/c.pem&tls_key_file=/k.pem",
      ),
    ).toEqual({
      kind: "single",
      node: { host: "cache", port: 6380 },
      db: 1,
      username: "alice",
      password: "p?ss",
      tls: true,
      tlsFiles: { caFile: "/etc/ca.pem", certFile: "/c.pem", keyFile: "/k.pem" },
    });
    expect(parseRedisUrl("rediss+cluster://a:7000,b:7001?tls_ca_file=/ca.pem")).toMatchObject({
      kind: "cluster",
      tlsFiles: { caFile: "/ca.pem" },
    });
  });

  it("refuses TLS files without TLS, unknown parameters and half a client certificate, without the password", () => {
    const bad = [
      ["redis://:hunter2@a:1?tls_ca_file=/ca.pem", /need a TLS scheme/],
      ["rediss://:hunter2@a:1?ca=/ca.pem", /unknown parameter "ca"/],
      ["rediss://:hunter2@a:1?tls_cert_file=/c.pem", /tls_cert_file and tls_key_file go together/],
    ] as const;
    for (const [url, problem] of bad) {
      expect(() => parseRedisUrl(url)).toThrow(problem);
      expect(() => parseRedisUrl(url)).not.toThrow(/hunter2/);
    }
  });

  it("names the parameter and the file it cannot read", () => {
    expect(() => createRedis({ url: "rediss://a:1?tls_ca_file=/nonexistent/ca.pem" })).toThrow(
      'invalid Redis URL "rediss://a:1?tls_ca_file=/nonexistent/ca.pem": tls_ca_file /nonexistent/ca.pem: no such file',
    );
  });
});

describe.skipIf(!haveRedis())("a real redis-server over TLS with an ACL user", () => {
  let files: TlsTestFiles;
  let port: number;
  let redis: ManagedProcess;
  const clients: RedisClient[] = [];

  beforeAll(async () => {
    files = await makeTlsFiles();
    port = await freePort();
    redis = await startProcess({
      name: `redis-server TLS :${port}`,
      command: findTool("redis-server") ?? "redis-server",
      // TLS only, client certificates required, no default user: every client must AUTH as alice.
      args: [
        ...["--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        ...["--tls-cert-file", files.certFile, "--tls-key-file", files.keyFile, "--tls-ca-cert-file", files.caFile],
        ...["--tls-auth-clients", "yes"],
        ...["--user", "default", "off", "--user", "alice", "on", ">alice-secret", "~*", "&*", "+@all"],
      ],
      ready: () =>
        new Promise((resolve) => {
          const socket = connect({
            host: "127.0.0.1",
            port,
            ca: files.ca.cert,
            cert: files.client.cert,
            key: files.client.key,
          });
          socket.once("secureConnect", () => {
            socket.destroy();
            resolve(true);
          });
          socket.once("error", () => resolve(false));
        }),
    });
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await redis?.stop();
  });

  const url = (userInfo: string, query: string) => `rediss://${userInfo}@127.0.0.1:${port}?${query}`;
  const mtls = () =>
    `tls_ca_file=${files.caFile}&tls_cert_file=${files.clientCertFile}&tls_key_file=${files.clientKeyFile}`;
  const open = (target: string) => {
    const client = createRedis({ url: target, connectTimeoutMs: 1_000 });
    clients.push(client);
    return client;
  };

  it("connects with the CA, a client certificate and AUTH user/password", async () => {
    const client = open(url("alice:alice-secret", mtls()));
    await waitForRedis(client, 5_000);
    expect(await client.call("ACL", "WHOAMI")).toBe("alice");
    expect(await client.ping()).toBe("PONG");
  });

  it("never becomes ready with a wrong password, without the CA, or without a client certificate", async () => {
    for (const target of [
      url("alice:wrong", mtls()),
      url("alice:alice-secret", `tls_cert_file=${files.clientCertFile}&tls_key_file=${files.clientKeyFile}`),
      url("alice:alice-secret", `tls_ca_file=${files.caFile}`),
    ]) {
      const client = open(target);
      await expect(waitForRedis(client, 1_500)).rejects.toThrow(/not ready/);
    }
  });

  it("serves the management store over the same URL", async () => {
    const store = new RedisStore({ url: url("alice:alice-secret", mtls()) });
    try {
      await store.ready(5_000);
      expect((await store.snapshot()).revision).toBeGreaterThanOrEqual(0);
    } finally {
      await store.close();
    }
  });
});
