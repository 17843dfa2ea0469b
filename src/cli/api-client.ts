import { readFileSync } from "node:fs";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Option } from "commander";
import { ManagementService } from "../gen/gantry/api/v1/management_pb.js";

export type ManagementClient = Client<typeof ManagementService>;

export interface ServerFlags {
  server: string;
  tokenFile?: string;
  caFile?: string;
}

/** `--server` and `--token-file` for every command that talks to the management API. */
export function serverOptions(): Option[] {
  return [
    new Option("--server <url>", "the management API of gantry server")
      .env("GANTRY_SERVER")
      .default("http://127.0.0.1:8080"),
    new Option("--token-file <path>", "file holding the API bearer token (or set GANTRY_API_TOKEN)").env(
      "GANTRY_API_TOKEN_FILE",
    ),
    new Option("--ca-file <path>", "PEM CA bundle to trust for an https:// --server (default: the system's CAs)").env(
      "GANTRY_CA_FILE",
    ),
  ];
}

function readToken(flags: ServerFlags): string | undefined {
  if (flags.tokenFile) {
    try {
      return readFileSync(flags.tokenFile, "utf8").trim();
    } catch (err) {
      throw new Error(`cannot read the API token from ${flags.tokenFile}: ${(err as Error).message}`);
    }
  }
  return process.env["GANTRY_API_TOKEN"]?.trim() || undefined;
}

export function connect(flags: ServerFlags): ManagementClient {
  return connectTo(ManagementService, flags);
}

/** A client of one of the management API port's services. */
export function connectTo<S extends DescService>(service: S, flags: ServerFlags): Client<S> {
  const token = readToken(flags);
  const interceptors: Interceptor[] = token
    ? [
        (next) => async (request) => {
          request.header.set("authorization", `Bearer ${token}`);
          return next(request);
        },
      ]
    : [];
  let baseUrl: string;
  try {
    baseUrl = new URL(flags.server).toString().replace(/\/$/, "");
  } catch {
    throw new Error(`--server "${flags.server}" is not a URL (for example http://127.0.0.1:8080)`);
  }
  let ca: Buffer | undefined;
  if (flags.caFile) {
    if (!baseUrl.startsWith("https:")) throw new Error(`--ca-file needs an https:// --server, not ${baseUrl}`);
    try {
      ca = readFileSync(flags.caFile);
    } catch (err) {
      throw new Error(`--ca-file ${flags.caFile}: ${(err as Error).message}`);
    }
  }
  return createClient(
    service,
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      interceptors,
      defaultTimeoutMs: 15_000,
      ...(ca ? { nodeOptions: { ca } } : {}),
    }),
  );
}

/** Turns an API failure into a message a user can act on. */
export function explain(err: unknown, server: string): Error {
  const e = ConnectError.from(err);
  if (/certificate|self.signed|UNABLE_TO_VERIFY|ERR_TLS/i.test(e.rawMessage)) {
    return new Error(
      `the Gantry server at ${server} has a certificate this client does not trust: ${e.rawMessage} (see --ca-file or GANTRY_CA_FILE)`,
    );
  }
  switch (e.code) {
    case Code.Unavailable:
      if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|fetch failed/i.test(e.rawMessage)) {
        return new Error(`cannot reach the Gantry server at ${server} (is \`gantry server\` running? see --server)`);
      }

      return new Error(`the Gantry server at ${server} is unavailable: ${e.rawMessage}`);
    case Code.Unauthenticated:
      return new Error(
        `${e.rawMessage} (the server at ${server} needs its API token: --token-file or GANTRY_API_TOKEN)`,
      );
    case Code.DeadlineExceeded:
      return new Error(`the Gantry server at ${server} did not answer in time`);
    default:
      return new Error(e.rawMessage);
  }
}
