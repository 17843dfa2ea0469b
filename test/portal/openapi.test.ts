import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { OpenApiSourceSchema } from "../../src/gen/gantry/v1/portal_pb.js";
import { ManualClock } from "../../src/lib/index.js";
import { checkDocument, coverageWarnings, routeTableRoutes } from "../../src/openapi/index.js";
import { apiDocument } from "../../src/portal/api-document.js";
import { OpenApiDocuments } from "../../src/portal/index.js";
import { parseResources } from "../../src/resources/index.js";

const v3 = `openapi: 3.0.3
info: { title: t, version: "1" }
paths:
  /pets/{id}:
    get:
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: ok } }
`;
const v31 = `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/a":{"post":{"responses":{"204":{"description":"done"}}}}}}`;
const v2 = `swagger: "2.0"
info: { title: t, version: "1" }
basePath: /v2
paths:
  /users:
    get: { responses: { "200": { description: ok } } }
`;

describe("OpenAPI documents", () => {
  it.each([
    ["3.0", v3],
    ["3.1", v31],
    ["2.0", v2],
  ])("accepts a valid %s document", async (_version, text) => {
    const result = await checkDocument(text, "spec.openapi.inline");
    expect(result.problems).toEqual([]);
    expect(result.document).toBeDefined();
  });

  it("names the source and the problem of an invalid document", async () => {
    const result = await checkDocument(
      "openapi: 3.0.3\ninfo: { title: t }\npaths: {}\n",
      "spec.openapi.file pets.yaml",
    );
    expect(result.problems).toHaveLength(1);
    expect(result.problems).toEqual([
      "spec.openapi.file pets.yaml: invalid OpenAPI document: Swagger schema validation failed: #/info must have required property 'version'",
    ]);
  });

  it("names a document that is not YAML", async () => {
    const result = await checkDocument("openapi: [", "spec.openapi.inline");
    expect(result.problems[0]).toMatch(/^spec\.openapi\.inline: not YAML or JSON/);
  });

  it("does not follow external references", async () => {
    const text = v3.replace("schema: { type: string }", 'schema: { $ref: "file:///etc/passwd" }');
    const result = await checkDocument(text, "spec.openapi.inline");
    expect(JSON.stringify(result)).not.toContain("root:");
  });

  it("serves the portal's own API document, which is valid", async () => {
    expect((await checkDocument(JSON.stringify(apiDocument), "portal API")).problems).toEqual([]);
  });

  it("fetches a schema URL, keeps the last good copy when a refresh fails, and refetches once stale", async () => {
    let body = v3;
    let fail = false;
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      if (fail) res.writeHead(500).end();
      else res.writeHead(200, { "content-type": "application/yaml" }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const clock = new ManualClock(0);
      const documents = new OpenApiDocuments({ baseDir: ".", clock });
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.yaml`;
      const source = create(OpenApiSourceSchema, {
        source: { case: "url", value: { url, refreshInterval: { seconds: 60n, nanos: 0 } } },
      });
      expect((await documents.get("ns/p", source)).problems).toEqual([]);
      expect((await documents.get("ns/p", source)).problems).toEqual([]);
      expect(fetches).toBe(1);
      clock.advance(60_000);
      fail = true;
      const stale = await documents.get("ns/p", source);
      expect(fetches).toBe(2);
      expect(stale.document).toBeDefined();
      fail = false;
      body = v2;
      clock.advance(60_000);
      expect((await documents.get("ns/p", source)).document?.["swagger"]).toBe("2.0");
    } finally {
      server.close();
    }
  });
});

describe("coverage of a product's routes by its document", () => {
  const tables = parseResources(
    `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: pets, namespace: ns }
spec:
  hosts: [a]
  http:
    - name: pets
      matchers: [{ prefix: /pets, methods: [GET] }]
      forwardTo: { destinations: [{ destination: { name: d } }] }
    - name: admin
      matchers: [{ prefix: /admin }]
      forwardTo: { destinations: [{ destination: { name: d } }] }
`,
    "rt.yaml",
  ).resources.flatMap((r) => (r.kind === "RouteTable" ? [r] : []));

  it("warns about operations no route serves and routes no operation documents", async () => {
    const { operations, problems } = await checkDocument(
      `${v3}  /orders:\n    post:\n      responses: { "200": { description: ok } }\n`,
      "x",
    );
    expect(problems).toEqual([]);
    expect(coverageWarnings(operations, routeTableRoutes(tables))).toEqual([
      "operation POST /orders: no route of the product's route tables serves it",
      "route ns/pets/admin: the OpenAPI document documents no operation it serves",
    ]);
  });
});
