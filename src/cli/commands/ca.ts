import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Command, Option } from "commander";
import { type RootsResponse, TrustAdminService } from "../../gen/gantry/api/v1/trust_pb.js";
import { connectTo, explain, type ServerFlags, serverOptions } from "../api-client.js";
import { parsePositiveInt } from "../options.js";
import { formatTable } from "../table.js";

// `gantry ca show|rotate`: the workload root CA of a management server (docs/security.md).

const iso = (t: Timestamp | undefined) => (t ? new Date(timestampMs(t)).toISOString() : "");

function print(answer: RootsResponse, output: "table" | "pem"): void {
  if (output === "pem") {
    process.stdout.write(
      answer.roots
        .map((r) => r.certificatePem.trim())
        .join("\n")
        .concat("\n"),
    );
    return;
  }
  process.stdout.write(
    `trust domain ${answer.trustDomain}${answer.brought ? " (CA given with --ca-cert-file)" : ""}\n`,
  );
  process.stdout.write(
    formatTable(
      ["SUBJECT", "PIN", "EXPIRES", "SIGNING", "TRUSTED UNTIL"],
      answer.roots.map((r) => [
        r.subject,
        r.pin.slice(0, 16),
        iso(r.notAfter),
        r.signing ? "yes" : "no",
        iso(r.trustedUntil) || "-",
      ]),
    ),
  );
}

export function registerCa(program: Command): void {
  const ca = program.command("ca").description("the workload root CA: show its roots, rotate it");
  const output = () =>
    new Option("-o, --output <format>", "table, or pem (the trust bundle)").choices(["table", "pem"]).default("table");
  const show = ca.command("show").description("the roots trusted now (the signing one last)").addOption(output());
  for (const option of serverOptions()) show.addOption(option);
  show.action(async (flags: ServerFlags & { output: "table" | "pem" }) => {
    const answer = await connectTo(TrustAdminService, flags)
      .getRoots({})
      .catch((err: unknown) => {
        throw explain(err, flags.server);
      });
    print(answer, flags.output);
  });
  const rotate = ca
    .command("rotate")
    .description(
      "make a new root that signs from now on; the old root stays trusted for the transition, then is dropped",
    )
    .addOption(
      new Option(
        "--transition-seconds <n>",
        "how long the old root stays trusted (default: the server's, 48 h)",
      ).argParser(parsePositiveInt),
    )
    .addOption(output());
  for (const option of serverOptions()) rotate.addOption(option);
  rotate.action(async (flags: ServerFlags & { output: "table" | "pem"; transitionSeconds?: number }) => {
    const answer = await connectTo(TrustAdminService, flags)
      .rotateRoot({ transitionSeconds: BigInt(flags.transitionSeconds ?? 0) })
      .catch((err: unknown) => {
        throw explain(err, flags.server);
      });
    print(answer, flags.output);
  });
}
