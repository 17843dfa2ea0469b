import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { Authorization } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { Http2GrpcServer } from "../../../src/lib/grpc-server/index.js";
import { createLogger } from "../../../src/lib/logger.js";
import { needTool } from "../../support/tools.js";

// h2spec (github.com/summerwind/h2spec) is an HTTP/2 conformance suite written by others: every case of
// RFC 7540/9113 and RFC 7541 it knows, run against the data-plane gRPC server's own HTTP/2 layer, in
// strict mode, with a concurrent stream limit so that case runs too.

const run = promisify(execFile);
const h2spec = needTool("h2spec", "run `node scripts/test-prereqs.mjs` (it builds h2spec from the Go module proxy)");

describe.skipIf(!h2spec)("HTTP/2 conformance (h2spec)", () => {
  it("passes every h2spec case, none skipped", { timeout: 120_000 }, async () => {
    const server = new Http2GrpcServer({
      logger: createLogger({ service: "test", level: "silent" }),
      maxConcurrentStreams: 100,
    });
    server.add(Authorization, { check: () => ({ status: { code: 0 } }) });
    const port = await server.listen("127.0.0.1", 0);
    try {
      // h2spec exits non-zero when a case fails; its report is what the assertion shows.
      const result = await run(
        h2spec as string,
        ["--strict", "--timeout", "5", "-h", "127.0.0.1", "-p", String(port)],
        {
          maxBuffer: 16 * 1024 * 1024,
        },
      ).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? "", stderr: err.stderr ?? "" }));
      const summary = /(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed/.exec(result.stdout);
      const failures = result.stdout.includes("Failures:")
        ? result.stdout.slice(result.stdout.indexOf("Failures:"))
        : "";
      expect(failures).toBe("");
      expect(summary, result.stdout + result.stderr).not.toBeNull();
      const [, total, passed, skipped, failed] = summary ?? [];
      expect({ skipped: Number(skipped), failed: Number(failed) }).toEqual({ skipped: 0, failed: 0 });
      expect(Number(passed)).toBe(Number(total));
      expect(Number(total)).toBeGreaterThanOrEqual(146);
    } finally {
      await server.shutdown(200);
    }
  });
});
