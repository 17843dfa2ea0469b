import { PassThrough } from "node:stream";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import type { Evaluator, EvaluatorFactory, Verdict } from "../../src/extauth/evaluator.js";
import { evaluatorFactories } from "../../src/extauth/evaluators/index.js";
import { ExtAuthMetrics } from "../../src/extauth/metrics.js";
import { ExtAuthService } from "../../src/extauth/service.js";
import { AuthConfigSchema, DenyResponseSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { createLogger, createRegistry, ManualClock } from "../../src/lib/index.js";
import { checkRequest, quietLogger } from "./helpers.js";

/**
 * The service with a stand-in for one evaluator kind, whose evaluators can be held mid-check and
 * report when they are closed: what the lifecycle of a replaced config is about.
 */
function harness(options: { clock?: ManualClock; log?: PassThrough } = {}) {
  const original = evaluatorFactories.hmacAuth;
  const built: Array<{ secret: string; closed: boolean; release: (() => void) | undefined }> = [];
  const factory: EvaluatorFactory<"hmacAuth"> = (settings) => {
    const entry = {
      secret: Object.keys(settings.sharedSecrets)[0] ?? "",
      closed: false,
      release: undefined as (() => void) | undefined,
    };
    built.push(entry);
    const evaluator: Evaluator = {
      evaluate: (context) =>
        context.headers["fail"]
          ? { kind: "error", reason: context.headers["fail"] }
          : context.headers["hold"]
            ? new Promise<Verdict>((resolve) => {
                entry.release = () => resolve({ kind: "allow" });
              })
            : { kind: "allow", dynamicMetadata: { generation: entry.secret } },
      close: async () => {
        entry.closed = true;
      },
    };
    return evaluator;
  };
  evaluatorFactories.hmacAuth = factory;
  const service = new ExtAuthService({
    deps: {
      clock: options.clock ?? new ManualClock(),
      logger: options.log ? createLogger({ service: "extauth-test", destination: options.log }) : quietLogger,
      redis: undefined,
      baseDir: ".",
    },
    metrics: new ExtAuthMetrics(createRegistry("extauth-test", { processMetrics: false })),
    checkTimeoutMs: 1_000,
  });
  const config = (id: string, generation: string) =>
    create(AuthConfigSchema, {
      id,
      configs: [{ evaluator: { case: "hmacAuth", value: { sharedSecrets: { [generation]: "x" } } } }],
    });
  return {
    service,
    built,
    config,
    restore: () => {
      if (original) evaluatorFactories.hmacAuth = original;
      else delete evaluatorFactories.hmacAuth;
    },
  };
}

describe("the Check service's config lifecycle", () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  it("closes a replaced config's evaluators once its running checks finish", async () => {
    const h = harness();
    restore = h.restore;
    await h.service.replace([h.config("a", "g1")]);
    const running = h.service.check(checkRequest({ configId: "a", headers: { hold: "1" } }));
    expect(running).toBeInstanceOf(Promise);

    await h.service.replace([h.config("a", "g2")]);
    const [first, second] = h.built;
    expect(first?.closed).toBe(false);
    expect(await h.service.check(checkRequest({ configId: "a" }))).toMatchObject({
      dynamicMetadata: { generation: "g2" },
    });

    first?.release?.();
    expect(await running).toMatchObject({ status: { code: 0 } });
    expect(first?.closed).toBe(true);
    expect(second?.closed).toBe(false);
  });

  it("keeps an unchanged config as it is, and builds nothing when a set fails", async () => {
    const h = harness();
    restore = h.restore;
    await h.service.replace([h.config("a", "g1"), h.config("b", "g1")]);
    await h.service.replace([h.config("a", "g1"), h.config("b", "g2")]);
    expect(h.built.map((e) => [e.secret, e.closed])).toEqual([
      ["g1", false],
      ["g1", true],
      ["g2", false],
    ]);

    const broken = create(AuthConfigSchema, { id: "c", configs: [{}] });
    await expect(h.service.replace([h.config("a", "g3"), broken])).rejects.toThrow(
      'auth config "c": configs[0]: no evaluator is set',
    );
    // The evaluator built for the failed set was closed, and the served set did not change.
    expect(h.built.at(-1)).toMatchObject({ secret: "g3", closed: true });
    expect(h.service.configIds).toEqual(["a", "b"]);
    expect(await h.service.check(checkRequest({ configId: "a" }))).toMatchObject({
      dynamicMetadata: { generation: "g1" },
    });
  });

  it("rejects duplicate ids and configs without steps", async () => {
    const h = harness();
    restore = h.restore;
    await expect(h.service.replace([h.config("a", "g1"), h.config("a", "g2")])).rejects.toThrow(
      'auth config "a": id: the id is used by two auth configs',
    );
    await expect(h.service.replace([create(AuthConfigSchema, { id: "e" })])).rejects.toThrow(
      'auth config "e": configs: at least one step is needed',
    );
    const twice = create(AuthConfigSchema, {
      id: "t",
      configs: [
        { name: "x", evaluator: { case: "hmacAuth", value: { sharedSecrets: { g: "x" } } } },
        { name: "x", evaluator: { case: "hmacAuth", value: { sharedSecrets: { g: "x" } } } },
      ],
    });
    await expect(h.service.replace([twice])).rejects.toThrow(
      'auth config "t": configs[1].name: step name "x" is used twice',
    );
    const badDeny = (denyResponse: MessageInitShape<typeof DenyResponseSchema>) => {
      const config = h.config("d", "g");
      config.denyResponse = create(DenyResponseSchema, denyResponse);
      return h.service.replace([config]);
    };
    await expect(badDeny({ status: 42 })).rejects.toThrow(
      'auth config "d": denyResponse.status: 42 is not an HTTP status',
    );
    await expect(badDeny({ headers: { "bad header": "x" } })).rejects.toThrow(
      'auth config "d": denyResponse.headers.bad header: is not an HTTP header name',
    );
    await expect(badDeny({ headers: { "x-ok": "a\r\nset-cookie: x" } })).rejects.toThrow("cannot hold line breaks");
  });

  it("logs a step's backend failure once per interval, counting the ones it left out", async () => {
    const clock = new ManualClock();
    const log = new PassThrough();
    const lines: Array<Record<string, unknown>> = [];
    log.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n"))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    const h = harness({ clock, log });
    restore = h.restore;
    await h.service.replace([h.config("a", "g1")]);
    const fail = (reason: string) => h.service.check(checkRequest({ configId: "a", headers: { fail: reason } }));
    for (let i = 0; i < 5; i++) await fail("redis down");
    await fail("timeout");
    clock.advance(10_000);
    await fail("timeout");
    await fail("timeout");
    await new Promise((resolve) => setImmediate(resolve));
    const failures = lines.filter((l) => l["msg"] === "auth step backend failure");
    expect(failures.map((l) => [l["reason"], l["suppressed"]])).toEqual([
      ["redis down", 0],
      ["timeout", 4],
      ["timeout", 0],
    ]);
  });
});
