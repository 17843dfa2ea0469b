// `gantry server`'s flags for API roles and the dashboard's OIDC sign-in ([ui](../../../docs/ui.md)).
import { readFileSync } from "node:fs";
import { Option } from "commander";
import {
  checkUiOidcOptions,
  minApiTokenLength,
  parseGroupRoles,
  parseSessionKeyFile,
  parseTokensFile,
  type TokenEntry,
  type UiOptions,
} from "../../server/index.js";

export interface UiFlags {
  apiTokensFile?: string;
  uiUrl?: string;
  uiOidcIssuer?: string;
  uiOidcClientId?: string;
  uiOidcClientSecretFile?: string;
  uiOidcGroupsClaim: string;
  uiOidcRoles?: string;
  uiSessionKeyFile?: string;
}

export function uiOptions(): Option[] {
  return [
    new Option(
      "--api-tokens-file <path>",
      "YAML file of more API tokens, each with a role: tokens: [{ name, role: viewer|editor|admin, token }]",
    ).env("GANTRY_API_TOKENS_FILE"),
    new Option("--ui-url <url>", "the dashboard's public URL, ending in /ui/ (OIDC redirects back under it)").env(
      "GANTRY_UI_URL",
    ),
    new Option("--ui-oidc-issuer <url>", "sign in to the dashboard with this OpenID provider").env(
      "GANTRY_UI_OIDC_ISSUER",
    ),
    new Option("--ui-oidc-client-id <id>", "the dashboard's client id at the provider").env("GANTRY_UI_OIDC_CLIENT_ID"),
    new Option("--ui-oidc-client-secret-file <path>", "file holding the client's secret").env(
      "GANTRY_UI_OIDC_CLIENT_SECRET_FILE",
    ),
    new Option("--ui-oidc-groups-claim <claim>", "the ID token claim listing the user's groups")
      .env("GANTRY_UI_OIDC_GROUPS_CLAIM")
      .default("groups"),
    new Option("--ui-oidc-roles <group=role,...>", "roles by group, e.g. ops=admin,dev=editor,staff=viewer").env(
      "GANTRY_UI_OIDC_ROLES",
    ),
    new Option(
      "--ui-session-key-file <path>",
      "keys sealing OIDC sign-in sessions, one a line (openssl rand -hex 32), the same file on every replica; the first seals",
    ).env("GANTRY_UI_SESSION_KEY_FILE"),
  ];
}

function readText(file: string, flag: string): string {
  try {
    const text = readFileSync(file, "utf8");
    if (text.trim() === "") throw new Error("the file is empty");
    return text;
  } catch (err) {
    throw new Error(`${flag} ${file}: ${(err as Error).message}`);
  }
}

/** The tokens of `--api-tokens-file`, checked; none without the flag. */
export function apiTokensFromFlags(flags: UiFlags): TokenEntry[] | undefined {
  if (flags.apiTokensFile === undefined) return undefined;
  return parseTokensFile(
    readText(flags.apiTokensFile, "--api-tokens-file"),
    `--api-tokens-file ${flags.apiTokensFile}`,
    minApiTokenLength,
  );
}

/** The dashboard's options from the flags, checked (errors name the flag). */
export function uiFromFlags(flags: UiFlags): UiOptions {
  const oidcFlags = [flags.uiOidcClientId, flags.uiOidcClientSecretFile, flags.uiOidcRoles, flags.uiSessionKeyFile];
  if (flags.uiOidcIssuer === undefined) {
    if (oidcFlags.some((f) => f !== undefined))
      throw new Error("--ui-oidc-* and --ui-session-key-file flags need --ui-oidc-issuer");
    return {};
  }
  if (flags.uiUrl === undefined) {
    throw new Error(
      "--ui-oidc-issuer needs --ui-url (the dashboard's public URL, where the provider sends users back)",
    );
  }
  if (flags.uiOidcRoles === undefined) throw new Error("--ui-oidc-issuer needs --ui-oidc-roles (group=role,...)");
  const oidc = {
    issuer: flags.uiOidcIssuer,
    clientId: flags.uiOidcClientId ?? "",
    clientSecret:
      flags.uiOidcClientSecretFile === undefined
        ? ""
        : readText(flags.uiOidcClientSecretFile, "--ui-oidc-client-secret-file").trim(),
    uiUrl: flags.uiUrl,
    groupsClaim: flags.uiOidcGroupsClaim,
    groupRoles: parseGroupRoles(flags.uiOidcRoles),
    ...(flags.uiSessionKeyFile === undefined
      ? {}
      : {
          sessionKeys: parseSessionKeyFile(
            readText(flags.uiSessionKeyFile, "--ui-session-key-file"),
            `--ui-session-key-file ${flags.uiSessionKeyFile}`,
          ),
        }),
  };
  checkUiOidcOptions(oidc);
  return { oidc };
}
