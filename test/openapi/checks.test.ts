// The server's edge for OpenAPI documents: each source read and checked off the translation path,
// read again on its interval, checked once per text, its result changes announced.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OpenApiSourceSchema } from "../../src/gen/gantry/v1/portal_pb.js";
import { ManualClock } from "../../src/lib/index.js";
import { checkDocumentText, type DocumentCheck, OpenApiChecks, sourceKey } from "../../src/openapi/index.js";
import { waitFor } from "../support/wait.js";

const valid = `openapi: 3.0.3
info: { title: t, version: "1" }
servers: [{ url: /v1 }]
paths:
  /pets:
    get: { responses: { "200": { description: ok } } }
`;

describe("OpenApiChecks", () => {
  let server: Server;
  let answer: { status: number; body: string } = { status: 500, body: "down" };
  let requests = 0;
  let url = "";

  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(answer.status).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.yaml`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("reports a failing schema URL, then the document once it is served, checking each text once", async () => {
    const clock = new ManualClock();
    let changes = 0;
    let checked = 0;
    const checks = new OpenApiChecks({
      baseDir: ".",
      timers: clock,
      check: (input): Promise<DocumentCheck> => {
        checked++;
        return checkDocumentText(input);
      },
      onChange: () => changes++,
    });
    const source = create(OpenApiSourceSchema, {
      source: { case: "url", value: { url, refreshInterval: durationFromMs(2_000) } },
    });
    const key = sourceKey(source) as string;
    checks.track([source]);
    await waitFor(() => checks.results().get(key), { what: "the first check" });
    expect(checks.results().get(key)).toEqual({
      problems: [`spec.openapi.url ${url}: cannot read: answered HTTP 500`],
      operations: [],
    });
    expect(changes).toBe(1);

    answer = { status: 200, body: "openapi: 3.0.3\ninfo: { title: t }\npaths: {}\n" };
    clock.advance(2_000);
    await waitFor(() => changes === 2, { what: "the invalid document's check" });
    expect(checks.results().get(key)?.problems[0]).toMatch(
      new RegExp(`^spec\\.openapi\\.url ${url.replace(/[.]/g, "\\.")}: invalid OpenAPI document: .*version`),
    );

    answer = { status: 200, body: valid };
    clock.advance(2_000);
    await waitFor(() => changes === 3, { what: "the valid document's check" });
    expect(checks.results().get(key)).toEqual({ problems: [], operations: [{ method: "GET", path: "/v1/pets" }] });
    const checkedBefore = checked;
    const version = checks.version;

    // The same text read again: not parsed again, nothing changed.
    const read = requests;
    clock.advance(2_000);
    expect(clock.pendingTimers).toBe(0);
    // Done once it was read and its next read is scheduled.
    await waitFor(() => requests === read + 1 && clock.pendingTimers === 1, { what: "the next read" });
    expect(checked).toBe(checkedBefore);
    expect(checks.version).toBe(version);

    // No product uses the source any more: forgotten, no more reads.
    checks.track([]);
    expect(checks.results().size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    checks.stop();
  });

  it("checks an inline document once, under the key the translator looks it up by", async () => {
    const checks = new OpenApiChecks({ baseDir: ".", timers: new ManualClock(), onChange: () => undefined });
    const source = create(OpenApiSourceSchema, { source: { case: "inline", value: "openapi: [" } });
    checks.track([source, source]);
    await waitFor(() => checks.results().size === 1, { what: "the inline check" });
    expect(checks.results().get(sourceKey(source) as string)?.problems).toEqual([
      "spec.openapi.inline: not YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 11:",
    ]);
    checks.stop();
  });

  it("reads files only under its base directory", async () => {
    const checks = new OpenApiChecks({
      baseDir: "/tmp/gantry-openapi-base",
      timers: new ManualClock(),
      onChange: () => undefined,
    });
    const sources = ["../etc/passwd", "/etc/passwd"].map((file) =>
      create(OpenApiSourceSchema, { source: { case: "file", value: file } }),
    );
    checks.track(sources);
    await waitFor(() => checks.results().size === 2, { what: "both checks" });
    expect(sources.map((s) => checks.results().get(sourceKey(s) as string)?.problems)).toEqual([
      ["spec.openapi.file ../etc/passwd: outside /tmp/gantry-openapi-base; only files under it are read"],
      ["spec.openapi.file /etc/passwd: outside /tmp/gantry-openapi-base; only files under it are read"],
    ]);
    checks.stop();
  });

  it("stops reading a schema URL past the size bound, even without a content-length", async () => {
    const endless = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/yaml" });
      const write = () => {
        // Writes until the reader hangs up.
        while (res.write(`# ${"x".repeat(1_000)}\n`));
        res.once("drain", write);
      };
      write();
    });
    await new Promise<void>((resolve) => endless.listen(0, "127.0.0.1", resolve));
    const endlessUrl = `http://127.0.0.1:${(endless.address() as AddressInfo).port}/openapi.yaml`;
    const checks = new OpenApiChecks({
      baseDir: ".",
      maxBytes: 64 * 1024,
      timers: new ManualClock(),
      onChange: () => undefined,
    });
    try {
      const source = create(OpenApiSourceSchema, { source: { case: "url", value: { url: endlessUrl } } });
      checks.track([source]);
      await waitFor(() => checks.results().size === 1, { what: "the bounded read" });
      expect(checks.results().get(sourceKey(source) as string)?.problems).toEqual([
        `spec.openapi.url ${endlessUrl}: larger than 65536 bytes`,
      ]);
    } finally {
      checks.stop();
      endless.closeAllConnections();
      await new Promise((resolve) => endless.close(resolve));
    }
  });
});
