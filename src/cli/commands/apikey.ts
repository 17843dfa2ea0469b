import { type Command, InvalidArgumentError } from "commander";
import { createApiKey, listApiKeys, revokeApiKey } from "../../extauth/index.js";
import { createRedis, type RedisClient, systemClock, waitForRedis } from "../../lib/index.js";
import { redisUrlOption } from "../options.js";

function parsePairs(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const pairs = { ...previous };
  for (const pair of value.split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new InvalidArgumentError(`"${pair}" is not key=value`);
    pairs[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return pairs;
}

interface RedisFlags {
  redisUrl?: string;
}

async function withRedis<T>(flags: RedisFlags, use: (redis: RedisClient) => Promise<T>): Promise<T> {
  if (!flags.redisUrl) throw new Error("--redis-url (or GANTRY_REDIS_URL) is required: the ext-auth Redis");
  const redis = createRedis({ url: flags.redisUrl, commandTimeoutMs: 5_000, connectionName: "gantry-apikey" });
  try {
    await waitForRedis(redis, 5_000);
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

function pairsText(pairs: Readonly<Record<string, string>>): string {
  return Object.entries(pairs)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

export function registerApiKey(program: Command): void {
  const apikey = program
    .command("apikey")
    .description("manage API keys in the ext-auth Redis (only their SHA-256 is stored)");

  apikey
    .command("create")
    .description("create a key and print it; it is shown this once and cannot be recovered")
    .addOption(redisUrlOption("the ext-auth Redis"))
    .option("--name <name>", "a name to recognize the key by")
    .option("--labels <k=v,...>", "labels that apiKeyAuth label selectors match (repeatable)", parsePairs)
    .option(
      "--metadata <k=v,...>",
      "metadata copied to upstream headers, e.g. user=u1,plan=gold (repeatable)",
      parsePairs,
    )
    .action(
      async (
        flags: RedisFlags & { name?: string; labels?: Record<string, string>; metadata?: Record<string, string> },
      ) => {
        const { secret, record } = await withRedis(flags, (redis) =>
          createApiKey(redis, systemClock, {
            ...(flags.name === undefined ? {} : { name: flags.name }),
            ...(flags.labels === undefined ? {} : { labels: flags.labels }),
            ...(flags.metadata === undefined ? {} : { metadata: flags.metadata }),
          }),
        );
        process.stdout.write(`id:  ${record.id}\nkey: ${secret}\n`);
        process.stderr.write("Store the key now: it is not kept and cannot be shown again.\n");
      },
    );

  apikey
    .command("list")
    .description("list keys (ids, names, labels, metadata; never the keys themselves)")
    .addOption(redisUrlOption("the ext-auth Redis"))
    .option("--json", "print JSON instead of a table")
    .action(async (flags: RedisFlags & { json?: boolean }) => {
      const keys = await withRedis(flags, listApiKeys);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
        return;
      }
      const rows = [
        ["ID", "NAME", "LABELS", "METADATA", "CREATED"],
        ...keys.map((k) => [k.id, k.name, pairsText(k.labels), pairsText(k.metadata), k.createdAt]),
      ];
      const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
      for (const row of rows) {
        process.stdout.write(
          `${row
            .map((cell, column) => cell.padEnd(widths[column] ?? 0))
            .join("  ")
            .trimEnd()}\n`,
        );
      }
    });

  apikey
    .command("revoke")
    .description("revoke a key by id; every ext-auth replica forgets it at once")
    .argument("<id>", "the key's id (see `gantry apikey list`)")
    .addOption(redisUrlOption("the ext-auth Redis"))
    .action(async (id: string, flags: RedisFlags) => {
      const revoked = await withRedis(flags, (redis) => revokeApiKey(redis, id));
      if (!revoked) throw new Error(`no API key has id "${id}"`);
      process.stdout.write(`revoked ${id}\n`);
    });
}
