// Benchmark: the Gantry ext-auth server answering API-key (cached) and JWT RS256 checks, side by
// side in one run with a raw node:http2 + protobuf-es baseline that allows all (a reference point:
// Gantry runs on neither baseline, so neither is a ceiling or a floor). Each server runs in its own
// process and the load generator (bench/loadgen, shared with the OPA rows) in another; load goes to
// loopback only, bounded in time. Needs redis-server (for the API keys).
//   npm run build && node bench/extauth/core.mjs [--quick]
// Writes bench/results/extauth-core.md.
import { spawn } from "node:child_process";
import { createPrivateKey, sign } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from "jose";
import { ApiKeyDirectory } from "../../dist/extauth/apikeys/index.js";
import { RequestContext } from "../../dist/extauth/context.js";
import { createApiKeyEvaluator } from "../../dist/extauth/evaluators/apikey.js";
import { createOAuth2Evaluator } from "../../dist/extauth/evaluators/oauth2.js";
import { createApiKey } from "../../dist/extauth/index.js";
import { Authorization, CheckRequestSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import { ApiKeyAuthSchema } from "../../dist/gen/gantry/extauth/v1/api_key_pb.js";
import { OAuth2Schema } from "../../dist/gen/gantry/extauth/v1/oauth2_pb.js";
import { createClient, createLogger, createRedis, systemClock, waitForRedis } from "../../dist/lib/index.js";
import { findTool, freePort, machine, readyLine, runLoad, startProcess } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
/** The 1-minute load average when the run began: on a shared machine it says how far to trust the numbers. */
const loadAtStart = loadavg()[0];
const root = join(here, "..", "..");
// `--quick` checks that the harness works (short runs); its numbers are not results.
const quick = process.argv.includes("--quick");
const load = {
  connections: 2,
  streamsPerConnection: 32,
  warmupMs: quick ? 300 : 1_500,
  durationMs: quick ? 1_000 : 5_000,
};
// Short rounds, many of them, alternating the servers: on a shared machine the load from elsewhere
// changes by the minute, and each round's ratio compares runs that were seconds apart.
const rounds = quick ? 1 : 5;

/** A CheckRequest as Envoy sends it, with the credential header of the scenario. */
function checkRequest(configId, credential, index) {
  return create(CheckRequestSchema, {
    attributes: {
      request: {
        time: { seconds: 1_790_000_000n, nanos: 0 },
        http: {
          id: `1234567890${index}`,
          method: "GET",
          path: `/api/orders/${index}?expand=items`,
          host: "api.example.com",
          scheme: "https",
          protocol: "HTTP/1.1",
          headers: {
            ":authority": "api.example.com",
            ":method": "GET",
            ":path": `/api/orders/${index}?expand=items`,
            ":scheme": "https",
            accept: "application/json",
            "user-agent": "bench/1.0",
            "x-forwarded-proto": "https",
            "x-request-id": `6f1c7a2e-0b7d-4c55-9d1e-00000000000${index}`,
            ...credential,
          },
        },
      },
      contextExtensions: { config_id: configId },
    },
  });
}

async function verifyAllowed(port, requests) {
  const client = createClient(Authorization, `127.0.0.1:${port}`);
  try {
    for (const request of requests.slice(0, 8)) {
      const response = await client.check(request, { timeoutMs: 5_000 });
      if ((response.status?.code ?? 0) !== 0) throw new Error(`port ${port}: a benchmark request was denied`);
    }
  } finally {
    client.close();
  }
}

/**
 * Mean in-process cost of a token's first use, in µs: one pass over distinct tokens on a fresh
 * evaluator (so none is remembered), after a warm-up pass on another one. Every verdict must allow.
 */
async function firstUseCost(makeEvaluator, requests) {
  const contexts = requests.map((r) => new RequestContext(r, 1_000, systemClock));
  const warm = await makeEvaluator();
  for (const context of contexts.slice(0, 2_000)) await warm.evaluate(context);
  const evaluator = await makeEvaluator();
  // 64 in flight, as under load: signatures are checked on the threadpool, and one at a time would
  // measure its round trip, not its cost.
  const inFlight = 64;
  const started = performance.now();
  for (let i = 0; i < contexts.length; i += inFlight) {
    const verdicts = await Promise.all(contexts.slice(i, i + inFlight).map((context) => evaluator.evaluate(context)));
    for (const verdict of verdicts) {
      if (verdict.kind !== "allow") throw new Error(`first-use measurement: ${verdict.kind} (${verdict.reason})`);
    }
  }
  return ((performance.now() - started) * 1_000) / contexts.length;
}

/** Mean in-process cost of one evaluation, in µs (no gRPC, no encoding). */
async function evaluationCost(evaluator, requests) {
  const contexts = requests.map((r) => new RequestContext(r, 1_000, systemClock));
  const iterations = 20_000;
  for (let i = 0; i < 2_000; i++) await evaluator.evaluate(contexts[i % contexts.length]);
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await evaluator.evaluate(contexts[i % contexts.length]);
  return ((performance.now() - started) * 1_000) / iterations;
}

const redisServer = findTool("redis-server");
if (!redisServer) throw new Error("redis-server is not installed (apt-get install redis-server)");
const work = mkdtempSync(join(tmpdir(), "gantry-bench-extauth-"));
const redisPort = await freePort();
const redisProcess = spawn(
  redisServer,
  ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--dir", work],
  {
    stdio: "ignore",
  },
);
const redisUrl = `redis://127.0.0.1:${redisPort}`;
const redis = createRedis({ url: redisUrl, commandTimeoutMs: 2_000 });
const logger = createLogger({ service: "bench", level: "silent" });
try {
  await waitForRedis(redis, 10_000);

  // API keys: four keys in Redis; the load repeats them, so after the first call each is cached.
  const keys = [];
  for (let i = 0; i < 4; i++) {
    keys.push(
      (await createApiKey(redis, systemClock, { labels: { team: "shop" }, metadata: { user: `u${i}`, plan: "gold" } }))
        .secret,
    );
  }
  const apiKeySettings = {
    labelSelector: { team: "shop" },
    headersFromMetadata: { "x-user-id": { entry: "user", required: true }, "x-plan": { entry: "plan" } },
  };

  // JWT: RS256 tokens from one key, checked against a local JWKS with issuer, audience and a scope.
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench", alg: "RS256", use: "sig" };
  const now = Math.floor(Date.now() / 1000);
  const tokens = [];
  for (let i = 0; i < 4; i++) {
    tokens.push(
      await new SignJWT({ sub: `u${i}`, scope: "orders:read profile" })
        .setProtectedHeader({ alg: "RS256", kid: "bench" })
        .setIssuer("https://idp.example.com")
        .setAudience("shop")
        .setIssuedAt(now)
        .setExpirationTime(now + 3_600)
        .sign(privateKey),
    );
  }
  const jwtSettings = {
    accessTokenValidation: {
      jwt: {
        issuer: "https://idp.example.com",
        audiences: ["shop"],
        localJwks: { inline: JSON.stringify({ keys: [jwk] }) },
      },
      requiredScopes: ["orders:read"],
      claimsToHeaders: { sub: "x-user-id" },
    },
  };

  const configsFile = join(work, "configs.json");
  writeFileSync(
    configsFile,
    JSON.stringify([
      { id: "apikey", configs: [{ name: "keys", apiKeyAuth: apiKeySettings }] },
      { id: "jwt", configs: [{ name: "jwt", oauth2: jwtSettings }] },
    ]),
  );
  // More distinct tokens than the verified-token cache holds (10,000), sent in order: every call misses the
  // cache and pays the signature check. Signed with node:crypto directly, which is quicker to set up.
  const distinctTokens = quick ? 200 : 12_000;
  const nodePrivateKey = createPrivateKey({ key: await exportJWK(privateKey), format: "jwk" });
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const header = encode({ alg: "RS256", kid: "bench", typ: "JWT" });
  const freshTokens = [];
  for (let i = 0; i < distinctTokens; i++) {
    const payload = encode({
      sub: `u${i}`,
      scope: "orders:read profile",
      iss: "https://idp.example.com",
      aud: "shop",
      iat: now,
      exp: now + 3_600,
    });
    const signature = sign("RSA-SHA256", Buffer.from(`${header}.${payload}`), nodePrivateKey).toString("base64url");
    freshTokens.push(`${header}.${payload}.${signature}`);
  }
  const scenarios = {
    apikey: keys.map((key, i) => checkRequest("apikey", { "api-key": key }, i)),
    jwt: tokens.map((token, i) => checkRequest("jwt", { authorization: `Bearer ${token}` }, i)),
    jwtFresh: freshTokens.map((token, i) => checkRequest("jwt", { authorization: `Bearer ${token}` }, i)),
  };
  const requestFiles = {};
  for (const [name, requests] of Object.entries(scenarios)) {
    requestFiles[name] = join(work, `${name}.json`);
    writeFileSync(
      requestFiles[name],
      JSON.stringify(requests.map((r) => Buffer.from(toBinary(CheckRequestSchema, r)).toString("base64"))),
    );
  }

  const directory = new ApiKeyDirectory({ redis, clock: systemClock, logger });
  const deps = { clock: systemClock, logger, redis, baseDir: "/", apiKeys: directory };
  const jwtEvaluator = () =>
    createOAuth2Evaluator(
      create(OAuth2Schema, {
        oauth2: {
          case: "accessTokenValidation",
          value: {
            validation: {
              case: "jwt",
              value: {
                issuer: "https://idp.example.com",
                audiences: ["shop"],
                jwks: {
                  case: "localJwks",
                  value: { source: { case: "inline", value: JSON.stringify({ keys: [jwk] }) } },
                },
              },
            },
            requiredScopes: ["orders:read"],
            claimsToHeaders: { sub: "x-user-id" },
          },
        },
      }),
      deps,
      "oauth2",
    );
  const costs = {
    apikey: await evaluationCost(
      createApiKeyEvaluator(create(ApiKeyAuthSchema, apiKeySettings), deps, "apiKeyAuth"),
      scenarios.apikey,
    ),
    jwt: await evaluationCost(await jwtEvaluator(), scenarios.jwt),
  };
  await directory.close();
  // What a token's first use costs: the evaluator's RS256 signature (node:crypto) and claims check, which the
  // verified-token cache then skips; and, for comparison, jose's jwtVerify doing the same check.
  costs.jwtFirstUse = await firstUseCost(jwtEvaluator, scenarios.jwtFresh);
  const keySet = createLocalJWKSet({ keys: [jwk] });
  costs.joseFirstUse = await evaluationCost(
    {
      evaluate: (context) =>
        jwtVerify(context.headers.authorization.slice(7), keySet, {
          issuer: "https://idp.example.com",
          audience: "shop",
        }),
    },
    scenarios.jwt,
  );

  const gantry = () =>
    startProcess("gantry", process.execPath, [join(here, "core-target.mjs"), configsFile, redisUrl], readyLine);
  const targets = [
    {
      name: "baseline: raw node:http2 + protobuf-es, allows all without looking",
      scenario: "apikey",
      start: () =>
        startProcess("node:http2", process.execPath, [join(here, "opa-target.mjs"), "node-http2"], readyLine),
    },
    {
      name: "baseline: grpc-js server answering OK without looking",
      scenario: "apikey",
      start: () =>
        startProcess("grpc-js", process.execPath, [join(here, "core-target.mjs"), "grpc-js-baseline"], readyLine),
    },
    { name: "Gantry ext-auth, apiKeyAuth (cached key)", scenario: "apikey", start: gantry, goal: 0.8 },
    {
      name: "Gantry ext-auth, JWT RS256 (local JWKS, verified tokens remembered)",
      scenario: "jwt",
      start: gantry,
      goal: 0.5,
    },
    {
      name: `Gantry ext-auth, JWT RS256, every call verified (${distinctTokens} distinct tokens)`,
      scenario: "jwtFresh",
      start: gantry,
      goal: 0.5,
    },
  ];

  const results = new Map(targets.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round++) {
    // Each round starts with a different server, so no server always runs right after the same one.
    for (const target of [...targets.slice(round % targets.length), ...targets.slice(0, round % targets.length)]) {
      const running = await target.start();
      try {
        await verifyAllowed(running.port, scenarios[target.scenario]);
        const result = runLoad(running.port, requestFiles[target.scenario], load);
        results.get(target.name).push(result);
        console.log(
          `round ${round + 1} ${target.name}: ${Math.round(result.rps)} req/s, p99 ${result.p99.toFixed(2)} ms`,
        );
      } finally {
        await running.stop();
      }
    }
  }

  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  };
  const baselineRuns = results.get(targets[0].name);
  const summary = targets.map((t) => {
    const runs = results.get(t.name);
    return {
      ...t,
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      failures: runs.reduce((a, r) => a + r.failures, 0),
      runs: runs.map((r) => Math.round(r.rps)).join(", "),
      ratio: median(runs.map((r, round) => r.rps / baselineRuns[round].rps)),
    };
  });
  const m = machine();
  const lines = [
    "# ext-auth: API key and JWT throughput",
    "",
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB memory, Node ${m.node}.`,
    `1-minute load average: ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end (other work on the machine makes runs noisy).`,
    "",
    `Load: unary Check from bench/loadgen (pre-encoded requests on raw HTTP/2 frames, Go) in a separate process, ${load.connections} connections × ${load.streamsPerConnection} streams in flight,`,
    `${load.warmupMs / 1000} s warm-up then ${load.durationMs / 1000} s measured, ${rounds} rounds alternating the servers (each server in its own process).`,
    "Each round starts with a different server. Figures are medians over the rounds; the ratio is the median of each",
    "round's ratio to that round's node:http2 baseline run. The baselines are reference points: Gantry runs on",
    "neither (its own HTTP/2 layer serves ext-auth), so they bound nothing.",
    "Requests: Envoy-like CheckRequests (9 headers), four per scenario unless said, each with its own credential; all allowed",
    "(the first ones are checked before each run). The baselines get the API-key requests.",
    "API key: four keys in a real Redis, label selector and two metadata headers; after the first call each key answers from the local cache.",
    "JWT: four RS256 tokens, local JWKS, issuer, audience, exp and a required scope, `sub` copied to a header. A token's signature is verified on",
    "its first use; the verified claims are then remembered (by the token's digest) until its exp, five minutes at most, as clients resend tokens.",
    "",
    "| server | req/s (median) | req/s per round | p50 ms | p99 ms | failed calls | vs node:http2 baseline | goal |",
    "|---|---|---|---|---|---|---|---|",
    ...summary.map(
      (s) =>
        `| ${s.name} | ${Math.round(s.rps)} | ${s.runs} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.failures} | ${s.ratio.toFixed(2)}× | ${s.goal ? `≥ ${s.goal}×` : ""} |`,
    ),
    "",
    `In process (no gRPC, no encoding), one evaluation costs on average ${costs.apikey.toFixed(1)} µs for a cached API key, ${costs.jwt.toFixed(1)} µs for a`,
    `remembered JWT, and ${costs.jwtFirstUse.toFixed(1)} µs of wall time per token on its first use, 64 in flight (RS256 signature on node:crypto's threadpool, then the claims;`,
    `${distinctTokens} distinct tokens). jose's jwtVerify takes ${costs.joseFirstUse.toFixed(1)} µs for the same signature and claims check.`,
    "",
  ];
  const resultsFile = join(root, "bench", "results", quick ? "extauth-core.quick.md" : "extauth-core.md");
  writeFileSync(resultsFile, lines.join("\n"));
  console.log(`\n${lines.join("\n")}\nwritten to ${resultsFile}`);
} finally {
  redis.disconnect();
  redisProcess.kill("SIGTERM");
  await once(redisProcess, "exit");
  rmSync(work, { recursive: true, force: true });
}
