import { fileURLToPath } from "node:url";
import { type Command, InvalidArgumentError, Option } from "commander";
import { ResourceStatus_State } from "../../gen/gantry/v1/status_pb.js";
import { createLogger, createRedis, type LogLevel, waitForRedis } from "../../lib/index.js";
import { defaultIdentityHeaders, type PortalState, type ResourceStatusView, startPortal } from "../../portal/index.js";
import { parseDocument, type Resource, refKey } from "../../resources/index.js";
import { connect, type ServerFlags, serverOptions } from "../api-client.js";
import { hostOption, logLevelOption, parseHostPort, parsePositiveInt, portOption, redisUrlOption } from "../options.js";
import { stopAllOnSignal } from "../signals.js";

interface PortalFlags extends ServerFlags {
  host: string;
  port: number;
  portal?: string;
  refreshMs: number;
  extauthAddress: string;
  authConfig: string;
  sessionCookie: string;
  authPaths: string[];
  redisUrl?: string;
  rotationGraceMs: number;
  ratelimitMetricsUrl?: string;
  usageIntervalMs: number;
  pagesDir: string;
  logLevel: LogLevel;
}

/** The kinds the portal reads. */
const portalKinds = ["ApiProduct", "UsagePlan", "Portal", "RouteTable"] as const;

function parseList(value: string): string[] {
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.some((p) => !p.startsWith("/"))) throw new InvalidArgumentError(`"${value}": every path must start with /`);
  return items;
}

function parseHttpUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError(`"${value}" is not an http(s) URL`);
}

/** Checks `host:port` and keeps it as written (the gRPC client takes it so). */
function checkedHostPort(value: string): string {
  parseHostPort(value);
  return value;
}

export function registerPortal(program: Command): void {
  const command = program
    .command("portal")
    .description("run the developer portal: API catalogue, usage plans, self-service API keys (docs/portal.md)")
    .addOption(hostOption())
    .addOption(portOption("--port", "GANTRY_PORTAL_PORT", "port for the pages and /portal/v1", 8090));
  for (const option of serverOptions()) command.addOption(option);
  command
    .addOption(
      new Option("--portal <namespace/name>", "the Portal resource to serve (default: the first)").env("GANTRY_PORTAL"),
    )
    .addOption(
      new Option("--refresh-ms <ms>", "how often the desired state is read from the management server")
        .env("GANTRY_PORTAL_REFRESH_MS")
        .default(1_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--extauth-address <host:port>", "gantry extauth, which signs developers in")
        .env("GANTRY_PORTAL_EXTAUTH_ADDRESS")
        .default("127.0.0.1:8083")
        .argParser(checkedHostPort),
    )
    .addOption(
      new Option("--auth-config <id>", "the auth config (an OIDC login step) portal requests are checked with")
        .env("GANTRY_PORTAL_AUTH_CONFIG")
        .default("portal"),
    )
    .addOption(
      new Option("--session-cookie <name>", "the OIDC step's session cookie name")
        .env("GANTRY_PORTAL_SESSION_COOKIE")
        .default("__session"),
    )
    .addOption(
      new Option("--auth-paths <paths>", "the OIDC step's callback and logout paths, answered by ext-auth")
        .env("GANTRY_PORTAL_AUTH_PATHS")
        .default(["/oidc/callback", "/logout"])
        .argParser(parseList),
    )
    .addOption(redisUrlOption("the ext-auth Redis (API keys and apps)"))
    .addOption(
      new Option("--rotation-grace-ms <ms>", "how long a rotated key keeps working beside its replacement")
        .env("GANTRY_PORTAL_ROTATION_GRACE_MS")
        .default(24 * 60 * 60_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--ratelimit-metrics-url <url>", "gantry ratelimit's /metrics, for usage charts")
        .env("GANTRY_PORTAL_RATELIMIT_METRICS_URL")
        .argParser(parseHttpUrl),
    )
    .addOption(
      new Option("--usage-interval-ms <ms>", "how often usage is sampled")
        .env("GANTRY_PORTAL_USAGE_INTERVAL_MS")
        .default(10_000)
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option("--pages-dir <dir>", "the built pages")
        .env("GANTRY_PORTAL_PAGES_DIR")
        .default(fileURLToPath(new URL("../../portal/pages", import.meta.url))),
    )
    .addOption(logLevelOption())
    .action(async (flags: PortalFlags) => {
      if (!flags.redisUrl) throw new Error("--redis-url (or GANTRY_REDIS_URL) is required: the ext-auth Redis");
      const logger = createLogger({ service: "gantry-portal", level: flags.logLevel });
      const client = connect(flags);
      const readState = async (): Promise<PortalState> => {
        const resources: Resource[] = [];
        const statuses = new Map<string, ResourceStatusView>();
        for (const kind of portalKinds) {
          const answer = await client.list({ kind });
          for (const item of answer.resources) {
            const parsed = parseDocument(item.document, `${kind} from the management API`);
            if (!("kind" in parsed)) continue;
            resources.push(parsed);
            if (item.status) {
              statuses.set(
                refKey({ kind: parsed.kind, namespace: parsed.metadata.namespace, name: parsed.metadata.name }),
                {
                  state: ResourceStatus_State[item.status.state],
                  messages: [...item.status.messages],
                },
              );
            }
          }
        }
        return { resources, statuses };
      };
      const redis = createRedis({ url: flags.redisUrl, commandTimeoutMs: 2_000, connectionName: "gantry-portal" });
      await waitForRedis(redis, 10_000);
      const portal = await startPortal({
        host: flags.host,
        port: flags.port,
        readState,
        refreshMs: flags.refreshMs,
        ...(flags.portal ? { portalName: flags.portal } : {}),
        identity: {
          extAuthAddress: flags.extauthAddress,
          configId: flags.authConfig,
          sessionCookie: flags.sessionCookie,
          headers: defaultIdentityHeaders,
          timeoutMs: 10_000,
        },
        authPaths: flags.authPaths,
        redis,
        rotationGraceMs: flags.rotationGraceMs,
        ...(flags.ratelimitMetricsUrl ? { rateLimitMetricsUrl: flags.ratelimitMetricsUrl } : {}),
        usageIntervalMs: flags.usageIntervalMs,
        pagesDir: flags.pagesDir,
        baseDir: process.cwd(),
        logger,
      });
      await stopAllOnSignal(portal, {
        stop: async () => {
          redis.disconnect();
        },
      });
    });
}
