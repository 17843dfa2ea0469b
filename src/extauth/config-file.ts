import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { type AuthConfig, AuthConfigSchema, ConfigSchema } from "../gen/gantry/extauth/v1/auth_config_pb.js";

/** A config file that cannot be read as auth configs: names the file, line, config id and field. */
export class AuthConfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthConfigFileError";
  }
}

function lineOf(node: unknown, lines: LineCounter): number | undefined {
  const range = (node as YamlNode | undefined)?.range;
  return range ? lines.linePos(range[0]).line : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What a JSON literal in a decoder message is, without the literal. */
function kindOf(literal: string): string {
  if (literal.startsWith('"')) return "a string";
  if (literal === "true" || literal === "false") return "a boolean";
  if (/^-?\d/.test(literal)) return "a number";
  return literal;
}

/**
 * protobuf-es quotes the value it could not decode ("expected string, got 42", "from JSON:
 * \"-----BEGIN…\""), and that value may be a private key or a shared secret: messages keep the
 * field and the expected type, and say only what kind of value was found.
 */
function decoderMessage(err: unknown): string {
  const literal = String.raw`("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false)`;
  return (err as Error).message
    .replace(new RegExp(`got ${literal}`, "g"), (_all, value: string) => `got ${kindOf(value)}`)
    .replace(new RegExp(`from JSON: ${literal}$`), (_all, value: string) => `from JSON: ${kindOf(value)}`);
}

/**
 * Decodes one auth config. Each step is decoded on its own so that an error names the step
 * (`configs[2]`) as well as the message the decoder names.
 */
function decodeAuthConfig(id: string, body: Record<string, unknown>, where: (path: Array<string | number>) => string) {
  const { configs, ...rest } = body;
  if ("id" in rest && rest["id"] !== id) {
    throw new AuthConfigFileError(
      `${where(["id"])}: auth config "${id}": id: "${String(rest["id"])}" differs from its key`,
    );
  }
  let config: AuthConfig;
  try {
    config = fromJson(AuthConfigSchema, { ...rest, id } as JsonValue);
  } catch (err) {
    throw new AuthConfigFileError(`${where([])}: auth config "${id}": ${decoderMessage(err)}`);
  }
  if (configs === undefined || configs === null) return config;
  if (!Array.isArray(configs)) {
    throw new AuthConfigFileError(`${where(["configs"])}: auth config "${id}": configs: expected a list of steps`);
  }
  configs.forEach((step: unknown, index) => {
    try {
      config.configs.push(fromJson(ConfigSchema, step as JsonValue));
    } catch (err) {
      throw new AuthConfigFileError(
        `${where(["configs", index])}: auth config "${id}": configs[${index}]: ${decoderMessage(err)}`,
      );
    }
  });
  return config;
}

/**
 * Reads a standalone config file: a YAML map from config id to AuthConfig (proto JSON names,
 * camelCase), or a YAML list of AuthConfigs that each carry their `id`. Unknown fields and wrong
 * types are errors.
 */
export function parseAuthConfigFile(text: string, file: string): AuthConfig[] {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const firstError = document.errors[0];
  if (firstError) {
    const line = lines.linePos(firstError.pos[0]).line;
    throw new AuthConfigFileError(`${file}:${line}: not valid YAML: ${firstError.message.split("\n")[0]}`);
  }
  let root: unknown;
  try {
    root = document.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias to no anchor ("*x"), or aliases that expand too far, parse and then fail here.
    throw new AuthConfigFileError(`${file}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (root === null || root === undefined) return [];
  const where = (prefix: Array<string | number>) => (path: Array<string | number>) => {
    const full = [...prefix, ...path];
    for (let length = full.length; length >= 0; length--) {
      const line = lineOf(document.getIn(full.slice(0, length), true), lines);
      if (line !== undefined) return `${file}:${line}`;
    }
    return file;
  };

  if (Array.isArray(root)) {
    return root.map((entry: unknown, index) => {
      if (!isObject(entry) || typeof entry["id"] !== "string" || entry["id"] === "") {
        throw new AuthConfigFileError(`${where([index])([])}: entry ${index}: expected an auth config with an "id"`);
      }
      return decodeAuthConfig(entry["id"], entry, where([index]));
    });
  }
  if (isObject(root) && isMap(document.contents)) {
    return Object.entries(root).map(([id, body]) => {
      if (!isObject(body)) {
        throw new AuthConfigFileError(`${where([id])([])}: auth config "${id}": expected a map of its fields`);
      }
      return decodeAuthConfig(id, body, where([id]));
    });
  }
  const kind = isSeq(document.contents) ? "list" : typeof root;
  throw new AuthConfigFileError(`${file}: expected a map from config id to auth config, found a ${kind}`);
}

/**
 * The line of a config's field in a config file (`configs[1].basicAuth.users.alice` under config
 * `shop`), or of its nearest parent that is there; for errors found after parsing.
 */
export function lineOfField(text: string, configId: string, field: string): number | undefined {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines });
  let root: unknown;
  try {
    root = document.toJS({ maxAliasCount: 100 });
  } catch {
    return undefined;
  }
  let prefix: Array<string | number>;
  if (Array.isArray(root)) {
    const index = root.findIndex((entry: unknown) => isObject(entry) && entry["id"] === configId);
    if (index < 0) return undefined;
    prefix = [index];
  } else {
    prefix = [configId];
  }
  const segments = field
    .split(/\.|\[(\d+)\]/)
    .filter((segment): segment is string => Boolean(segment))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
  for (let length = segments.length; length >= 0; length--) {
    const line = lineOf(document.getIn([...prefix, ...segments.slice(0, length)], true), lines);
    if (line !== undefined) return line;
  }
  return undefined;
}
