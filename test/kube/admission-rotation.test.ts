// The admission webhook's serving certificate is renewed while the server runs: with a 3 s lifetime,
// a handshake after two thirds of it sees a new certificate from the same CA, still valid.
import type { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { describe, expect, it } from "vitest";
import { type KubeFlags, startAdmission } from "../../src/cli/commands/server-kube.js";
import { createLogger } from "../../src/lib/logger.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });

/** The certificate the webhook's port serves now. */
function served(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.end();
      if (raw) resolve(raw);
      else reject(new Error("no certificate served"));
    });
    socket.on("error", reject);
  });
}

describe("the admission webhook's certificate", () => {
  it("is renewed at two thirds of its lifetime, from the same CA, while the server runs", async () => {
    const flags: KubeFlags & { host: string } = {
      host: "127.0.0.1",
      admissionPort: 0,
      admissionNames: "127.0.0.1",
      admissionCertTtlSeconds: 3,
      leaseName: "gantry-server",
      leaseDurationSeconds: 15,
      trustDomain: "gantry.local",
    };
    const admission = await startAdmission(flags, undefined, undefined, logger);
    if (!admission) throw new Error("no admission server");
    try {
      const first = await served(admission.port);
      // X.509 times are whole seconds (and validFrom is back-dated for clock skew): its end is ~3 s away.
      expect(Date.parse(first.validTo) - Date.now()).toBeLessThanOrEqual(3_000);
      const next = await waitFor(
        async () => {
          const now = await served(admission.port);
          return now.serialNumber !== first.serialNumber ? now : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 200, what: "a renewed certificate" },
      );
      expect(next.issuer).toBe(first.issuer);
      expect(next.subjectAltName).toBe("IP Address:127.0.0.1");
      expect(Date.parse(next.validTo)).toBeGreaterThan(Date.parse(first.validTo));
    } finally {
      await admission.close();
    }
  });
});
