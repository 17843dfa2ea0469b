import type { AuthConfig } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import type { Logger } from "../lib/index.js";
import type { EvaluatorKind, Step } from "./decide.js";
import { AuthConfigError, type Evaluator, type EvaluatorDeps, type EvaluatorFactory } from "./evaluator.js";
import { evaluatorFactories } from "./evaluators/index.js";
import { allOf, type Expression, ExpressionSyntaxError, parseExpression, stepReferences } from "./expression.js";
import type { ConfigMetrics } from "./metrics.js";
import type { DenialShape } from "./response.js";

/** One auth config, its evaluators built and its expression parsed, ready to serve checks. */
export interface CompiledAuthConfig {
  readonly id: string;
  readonly source: AuthConfig;
  readonly steps: ReadonlyMap<string, Step>;
  readonly expression: Expression;
  readonly failOnRedirect: boolean;
  readonly denials: DenialShape;
  readonly metrics: ConfigMetrics;
  /** Releases every evaluator's resources. */
  close(): Promise<void>;
}

/** An auth config that cannot be served, naming the config id and the field. */
export class AuthConfigInvalid extends Error {
  constructor(
    readonly configId: string,
    readonly field: string,
    readonly problem: string,
    /** Where the config came from (`file:line`), when it came from a file. */
    readonly source?: string,
  ) {
    super(`${source ? `${source}: ` : ""}auth config "${configId}": ${field ? `${field}: ` : ""}${problem}`);
    this.name = "AuthConfigInvalid";
  }
}

async function closeAll(evaluators: readonly Evaluator[], logger: Logger): Promise<void> {
  await Promise.all(
    evaluators.map(async (evaluator) => {
      try {
        await evaluator.close?.();
      } catch (err) {
        logger.warn({ err }, "closing an evaluator failed");
      }
    }),
  );
}

/** How often one step logs the same backend failure: an outage must not write a line per request. */
const failureLogIntervalMs = 10_000;

function failureLog(deps: EvaluatorDeps, configId: string, step: string): (reason: string) => void {
  let lastReason = "";
  let lastLoggedAt = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (reason) => {
    const now = deps.clock.now();
    if (reason === lastReason && now - lastLoggedAt < failureLogIntervalMs) {
      suppressed++;
      return;
    }
    deps.logger.warn({ configId, step, reason, suppressed }, "auth step backend failure");
    lastReason = reason;
    lastLoggedAt = now;
    suppressed = 0;
  };
}

function parseBooleanExpr(config: AuthConfig, names: readonly string[]): Expression {
  if (config.booleanExpr.trim() === "") return allOf(names);
  let expression: Expression;
  try {
    expression = parseExpression(config.booleanExpr);
  } catch (err) {
    if (err instanceof ExpressionSyntaxError) throw new AuthConfigInvalid(config.id, "booleanExpr", err.message);
    throw err;
  }
  for (const reference of stepReferences(expression)) {
    if (!names.includes(reference.name)) {
      throw new AuthConfigInvalid(
        config.id,
        "booleanExpr",
        `column ${reference.position}: no step is named "${reference.name}" (steps: ${names.join(", ")})`,
      );
    }
  }
  return expression;
}

const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

function denialShape(config: AuthConfig): DenialShape {
  const deny = config.denyResponse;
  if (!deny) return { status: undefined, headers: [], body: "" };
  if (deny.status !== 0 && (deny.status < 200 || deny.status > 599)) {
    throw new AuthConfigInvalid(config.id, "denyResponse.status", `${deny.status} is not an HTTP status (200-599)`);
  }
  for (const [name, value] of Object.entries(deny.headers)) {
    if (!headerName.test(name))
      throw new AuthConfigInvalid(config.id, `denyResponse.headers.${name}`, "is not an HTTP header name");
    if (/[\r\n\0]/.test(value)) {
      throw new AuthConfigInvalid(config.id, `denyResponse.headers.${name}`, "a header value cannot hold line breaks");
    }
  }
  return {
    status: deny.status === 0 ? undefined : deny.status,
    headers: Object.entries(deny.headers).map(([name, value]) => ({ name: name.toLowerCase(), value })),
    body: deny.body,
  };
}

/**
 * Builds one auth config: checks its steps and expression and builds each evaluator. Nothing is
 * left open on failure: evaluators built before the bad one are closed.
 */
export async function compileAuthConfig(
  config: AuthConfig,
  deps: EvaluatorDeps,
  metrics: ConfigMetrics,
): Promise<CompiledAuthConfig> {
  if (config.id === "") throw new AuthConfigInvalid("", "id", "an auth config needs an id");
  if (config.configs.length === 0) throw new AuthConfigInvalid(config.id, "configs", "at least one step is needed");
  const names = config.configs.map((step, index) => step.name || `config_${index}`);
  names.forEach((name, index) => {
    if (names.indexOf(name) !== index) {
      throw new AuthConfigInvalid(config.id, `configs[${index}].name`, `step name "${name}" is used twice`);
    }
  });
  const expression = parseBooleanExpr(config, names);
  const denials = denialShape(config);

  const steps = new Map<string, Step>();
  const built: Evaluator[] = [];
  try {
    for (const [index, stepConfig] of config.configs.entries()) {
      const kind: EvaluatorKind | undefined = stepConfig.evaluator.case;
      const field = `configs[${index}]`;
      if (kind === undefined) throw new AuthConfigInvalid(config.id, field, "no evaluator is set");
      const factory = evaluatorFactories[kind] as EvaluatorFactory<typeof kind> | undefined;
      if (!factory)
        throw new AuthConfigInvalid(config.id, `${field}.${kind}`, `the ${kind} evaluator is not available`);
      let evaluator: Evaluator;
      try {
        evaluator = await factory(stepConfig.evaluator.value as never, deps, `${field}.${kind}`);
      } catch (err) {
        if (err instanceof AuthConfigError) throw new AuthConfigInvalid(config.id, err.field, err.problem);
        throw new AuthConfigInvalid(config.id, `${field}.${kind}`, err instanceof Error ? err.message : String(err));
      }
      built.push(evaluator);
      const name = names[index] as string;
      const record = metrics.step(name, kind);
      const logFailure = failureLog(deps, config.id, name);
      steps.set(name, {
        name,
        kind,
        evaluator,
        failureModeAllow: stepConfig.failureModeAllow,
        record: (result, verdict) => {
          record(result);
          if (verdict.kind === "error") logFailure(verdict.reason);
        },
      });
    }
  } catch (err) {
    await closeAll(built, deps.logger);
    throw err;
  }
  return {
    id: config.id,
    source: config,
    steps,
    expression,
    failOnRedirect: config.failOnRedirect,
    denials,
    metrics,
    close: () => closeAll(built, deps.logger),
  };
}
