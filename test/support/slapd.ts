import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";
import { findTool, needTool } from "./tools.js";

const run = promisify(execFile);
const installHint = "install it with `apt-get install slapd ldap-utils` (npm test does this when run as root)";

/** Whether slapd and the ldap-utils are here; under CI=true a missing one fails the run instead. */
export function haveSlapd(): boolean {
  return needTool("slapd", installHint) !== undefined && findTool("ldapadd") !== undefined;
}

export interface SlapdOptions {
  /** The directory's suffix, e.g. `dc=example,dc=org`. */
  suffix: string;
  /** LDIF added (as the root DN, after start) in order; groupOfNames members get `memberOf` from the overlay. */
  entries: string;
}

export interface SlapdServer {
  readonly url: string;
  readonly port: number;
  /** The directory administrator, who may bind and write anything. */
  readonly rootDn: string;
  readonly rootPassword: string;
  /** Binds the server has completed so far, from its monitor database (the counting's own binds left out). */
  bindCount(): Promise<number>;
  /** Stops the server (for failure tests); `start()` brings it back on the same port with the same data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  close(): Promise<void>;
}

function config(dir: string, suffix: string, rootDn: string, rootPassword: string): string {
  return [
    "include /etc/ldap/schema/core.schema",
    "include /etc/ldap/schema/cosine.schema",
    "include /etc/ldap/schema/inetorgperson.schema",
    "include /etc/ldap/schema/nis.schema",
    "modulepath /usr/lib/ldap",
    "moduleload back_mdb",
    "moduleload memberof",
    `pidfile ${join(dir, "slapd.pid")}`,
    "database mdb",
    `suffix "${suffix}"`,
    `rootdn "${rootDn}"`,
    `rootpw ${rootPassword}`,
    `directory ${join(dir, "db")}`,
    "maxsize 16777216",
    "overlay memberof",
    // Users may bind and read their own entry (with memberOf); passwords are never readable.
    "access to attrs=userPassword by anonymous auth by * none",
    "access to * by self read by users read by * none",
    // The monitor database counts operations, so tests can see how many binds a client made.
    "database monitor",
    `access to dn.subtree="cn=Monitor" by dn.exact="${rootDn}" read by * none`,
    "",
  ].join("\n");
}

/**
 * Starts a throw-away OpenLDAP slapd on a free loopback port, with an mdb database and the memberof
 * overlay, from a slapd.conf in a temp folder; seeds it with `entries` through ldapadd.
 */
export async function startSlapd(options: SlapdOptions): Promise<SlapdServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "gantry-slapd-"));
  mkdirSync(join(dir, "db"));
  const rootDn = `cn=admin,${options.suffix}`;
  const rootPassword = "admin-secret";
  const conf = join(dir, "slapd.conf");
  writeFileSync(conf, config(dir, options.suffix, rootDn, rootPassword));
  const url = `ldap://127.0.0.1:${port}`;
  const slapd = findTool("slapd") ?? "slapd";
  const ldapsearch = findTool("ldapsearch") ?? "ldapsearch";
  let proc: ManagedProcess | undefined;
  const start = async () => {
    proc = await startProcess({
      name: `slapd :${port}`,
      command: slapd,
      // `-d 0` keeps it in the foreground, so it stops with the test.
      args: ["-f", conf, "-h", `${url}/`, "-d", "0"],
      ready: async () => {
        await run(ldapsearch, ["-x", "-H", url, "-D", rootDn, "-w", rootPassword, "-b", "", "-s", "base"], {
          timeout: 2_000,
        });
        return true;
      },
    });
  };
  try {
    await start();
    const ldif = join(dir, "seed.ldif");
    writeFileSync(ldif, options.entries);
    await run(findTool("ldapadd") ?? "ldapadd", ["-x", "-H", url, "-D", rootDn, "-w", rootPassword, "-f", ldif], {
      timeout: 10_000,
    });
  } catch (err) {
    await proc?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Each count binds once itself; those binds are taken off, so the count is of everyone else's.
  let countingBinds = 0;
  const bindCount = async () => {
    const { stdout } = await run(
      ldapsearch,
      [
        "-x",
        "-LLL",
        "-H",
        url,
        "-D",
        rootDn,
        "-w",
        rootPassword,
        "-b",
        "cn=Bind,cn=Operations,cn=Monitor",
        "-s",
        "base",
        "monitorOpCompleted",
      ],
      { timeout: 5_000 },
    );
    const completed = /monitorOpCompleted: (\d+)/.exec(stdout)?.[1];
    if (completed === undefined) throw new Error(`no bind count in slapd's monitor: ${stdout}`);
    // The bind of this search is still in progress when it reads the counter.
    const others = Number(completed) - countingBinds;
    countingBinds++;
    return others;
  };
  return {
    url,
    port,
    rootDn,
    rootPassword,
    bindCount,
    start,
    stop: async () => {
      await proc?.stop();
    },
    close: async () => {
      await proc?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
