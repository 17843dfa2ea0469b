// Benchmark: what the OIDC login step costs per request once a browser is logged in — the path every
// request of a session takes — with sessions in Redis and in encrypted cookies, side by side in one
// run with the floor of the Redis variant (one raw GET of the same size). In process (no gRPC), so
// the figures are the evaluator's own cost; Redis is a throw-away redis-server on loopback.
//   npm run build && node bench/extauth/oidc-session.mjs
// Writes bench/results/extauth-oidc.md.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { createOidcEvaluator } from "../../dist/extauth/evaluators/oidc/index.js";
import { encodeSession } from "../../dist/extauth/evaluators/oidc/session.js";
import { EncryptedCookieSessionStore, RedisSessionStore } from "../../dist/extauth/sessions/index.js";
import { CheckRequestSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import { OidcAuthorizationCodeSchema } from "../../dist/gen/gantry/extauth/v1/oidc_pb.js";
import { createLogger, createRedis, systemClock, waitForRedis } from "../../dist/lib/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(here, "..", "results", "extauth-oidc.md");
const rounds = 3;
const durationMs = 1_500;
const inFlight = 64;

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** A session as a real provider leaves it: an RS256 ID token of ~1 KB, opaque access and refresh tokens, claims. */
function realisticSession(now) {
  const claims = {
    iss: "https://idp.example.com/realms/main",
    sub: "8d3c2b1a-4f5e-6d7c-8b9a-0f1e2d3c4b5a",
    aud: "gantry",
    exp: Math.floor(now / 1000) + 3600,
    iat: Math.floor(now / 1000),
    auth_time: Math.floor(now / 1000),
    nonce: "x".repeat(43),
    email: "ada@example.com",
    email_verified: true,
    name: "Ada Lovelace",
    groups: ["staff", "engineering"],
  };
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const idToken = `${part({ alg: "RS256", kid: "k1" })}.${part(claims)}.${"s".repeat(342)}`;
  return {
    idToken,
    accessToken: "a".repeat(43),
    refreshToken: "r".repeat(43),
    tokensExpireAt: now + 3_600_000,
    endsAt: now + 86_400_000,
    claims,
  };
}

function settings(store) {
  return create(OidcAuthorizationCodeSchema, {
    // Never contacted: a logged-in request needs nothing from the provider.
    issuerUrl: "http://127.0.0.1:9",
    clientId: "gantry",
    clientAuthentication: { case: "clientSecret", value: { secret: "s" } },
    appUrl: "https://app.example.com",
    session: { store },
    forwardTokens: { idTokenHeader: "x-id-token", accessTokenHeader: "authorization", bearer: true },
    claimsToHeaders: [{ claim: "email", header: "x-user-email" }],
    dynamicMetadataFromClaims: { user: "sub" },
  });
}

function context(cookie) {
  const headers = {
    ":authority": "app.example.com",
    ":method": "GET",
    ":path": "/orders?page=2",
    accept: "text/html",
    "user-agent": "Mozilla/5.0 (bench)",
    cookie: `_ga=GA1.2.3; __session=${cookie}; theme=dark`,
  };
  const request = create(CheckRequestSchema, {
    attributes: { request: { http: { method: "GET", path: "/orders?page=2", host: "app.example.com", headers } } },
  });
  return { request, headers, state: new Map(), signal: new AbortController().signal };
}

/** Runs `once` with `concurrency` calls in flight for `durationMs`; checks/s and mean µs per call. */
async function measure(once, concurrency) {
  let calls = 0;
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await once();
        calls++;
      }
    }),
  );
  const elapsed = performance.now() - started;
  return { perSecond: (calls / elapsed) * 1000, microseconds: (elapsed * 1000 * concurrency) / calls };
}

const loadBefore = loadavg()[0];
const port = await freePort();
const redisProcess = spawn(
  "redis-server",
  ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
  {
    stdio: "ignore",
  },
);
const logger = createLogger({ service: "bench", level: "silent" });
const redis = createRedis({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 1_000 });
try {
  await waitForRedis(redis, 5_000);
  const deps = { clock: systemClock, logger, redis, baseDir: here };
  const key = Buffer.alloc(32, 9);
  const session = encodeSession(realisticSession(Date.now()));
  const redisEvaluator = await createOidcEvaluator(settings({ case: "redis", value: {} }), deps, "bench");
  const cookieEvaluator = await createOidcEvaluator(
    settings({ case: "cookie", value: { encryptionKey: key.toString("base64") } }),
    deps,
    "bench",
  );
  const redisId = await new RedisSessionStore(redis, "oidc:session:").set(undefined, session, 86_400_000);
  const sealed = await new EncryptedCookieSessionStore(key, "oidc session __session", systemClock).set(
    undefined,
    session,
    86_400_000,
  );
  const redisContext = context(redisId);
  const cookieContext = context(sealed);
  await redis.set("bench:raw", session);
  for (const [evaluator, ctx] of [
    [redisEvaluator, redisContext],
    [cookieEvaluator, cookieContext],
  ]) {
    const verdict = await evaluator.evaluate(ctx);
    if (verdict.kind !== "allow") throw new Error(`the bench session was not accepted: ${JSON.stringify(verdict)}`);
  }

  const targets = [
    { name: "raw Redis GET of the same session (floor of the Redis variant)", once: () => redis.get("bench:raw") },
    { name: "OIDC step, session in Redis", once: () => redisEvaluator.evaluate(redisContext) },
    { name: "OIDC step, session in an encrypted cookie", once: () => cookieEvaluator.evaluate(cookieContext) },
  ];
  const results = new Map(targets.map((t) => [t.name, { serial: [], loaded: [], ratio: [] }]));
  for (let round = 0; round < rounds; round++) {
    const floor = {};
    for (const target of targets) {
      const serial = await measure(target.once, 1);
      const loaded = await measure(target.once, inFlight);
      const entry = results.get(target.name);
      entry.serial.push(serial.microseconds);
      entry.loaded.push(loaded.perSecond);
      floor[target.name] = loaded.perSecond;
      console.log(
        `round ${round + 1} ${target.name}: ${serial.microseconds.toFixed(1)} µs serial, ${Math.round(loaded.perSecond)} checks/s at ${inFlight} in flight`,
      );
    }
    const base = floor[targets[0].name];
    for (const target of targets) results.get(target.name).ratio.push(floor[target.name] / base);
  }

  const cpu = cpus()[0]?.model ?? "unknown";
  const rows = targets.map((t) => {
    const r = results.get(t.name);
    return `| ${t.name} | ${median(r.serial).toFixed(1)} | ${Math.round(median(r.loaded))} | ${r.loaded.map(Math.round).join(", ")} | ${median(r.ratio).toFixed(2)}× |`;
  });
  const ratioOf = (name) => median(results.get(name).ratio);
  const lines = [
    "# ext-auth: OIDC login step on a logged-in request",
    "",
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${availableParallelism()} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Node ${process.version}.`,
    `Load average (1 min) ${loadBefore.toFixed(1)} before the run and ${loadavg()[0].toFixed(1)} after: other work shared the machine, so read the ratios within a round.`,
    "",
    "What is measured: `evaluate()` of the `oauth2.oidcAuthorizationCode` evaluator, in process, on a request that",
    "carries a valid session (the path of every request after login): cookie parsing, the session read, its",
    `validity check, and the verdict with two tokens, one claim header and metadata. The session holds a ~1 KB ID`,
    `token, access and refresh tokens and 11 claims (${session.length} bytes of JSON). Redis is a local redis-server on loopback.`,
    `${rounds} rounds, each target ${durationMs / 1000} s with one call at a time (µs per check) then ${durationMs / 1000} s with ${inFlight} in flight (checks/s).`,
    "Figures are medians over the rounds; `vs floor` is the median of the within-round ratios to the raw Redis GET at the same load.",
    "",
    "| target | µs per check, serial | checks/s, 64 in flight | checks/s per round | vs floor |",
    "|---|---|---|---|---|",
    ...rows,
    "",
    `Redis session / raw GET: **${ratioOf(targets[1].name).toFixed(2)}×** throughput; the rest is the step's own work around its one`,
    "Redis round trip (cookie parsing, hashing the id into the key, decoding the session, building the verdict).",
    `Encrypted cookie / Redis session: **${(ratioOf(targets[2].name) / ratioOf(targets[1].name)).toFixed(2)}×** throughput: no network hop, but one`,
    "AES-256-GCM open and base64url decoding of a ~2 KB cookie per request.",
    "",
  ];
  writeFileSync(resultsFile, lines.join("\n"));
  console.log(`wrote ${resultsFile}`);
} finally {
  redis.disconnect();
  redisProcess.kill();
}
