// The OpenAPI document of the portal's own REST API, served at /portal/v1/openapi.json and
// validated in test/portal/api-document.test.ts.

const json = (schema: unknown) => ({ "application/json": { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: json(ref("Error")) });
const idParam = (name: string, description: string) => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string" },
});
const appId = idParam("appId", "the app's id");
const keyId = idParam("keyId", "the key's id");
const ok = (description: string, schema: unknown) => ({ description, content: json(schema) });
const signedIn = [{ session: [] }];

export const apiDocument = {
  openapi: "3.0.3",
  info: {
    title: "Gantry developer portal API",
    version: "1.0.0",
    description:
      "Catalogue, usage plans, apps and API keys. Sign-in is Gantry's ext-auth OIDC login (GET /login); " +
      "state-changing calls take application/json bodies.",
  },
  servers: [{ url: "/portal/v1" }],
  components: {
    securitySchemes: { session: { type: "apiKey", in: "cookie", name: "__session" } },
    schemas: {
      Error: { type: "object", required: ["error"], properties: { error: { type: "string" } } },
      Me: {
        type: "object",
        required: ["signedIn"],
        properties: {
          signedIn: { type: "boolean" },
          id: { type: "string" },
          email: { type: "string" },
          groups: { type: "array", items: { type: "string" } },
          admin: { type: "boolean" },
        },
      },
      Api: {
        type: "object",
        required: ["id", "title", "version", "description", "plans"],
        properties: {
          id: { type: "string", description: "namespace/name (percent-encode the slash in paths)" },
          title: { type: "string" },
          version: { type: "string" },
          description: { type: "string" },
          plans: { type: "array", items: { type: "string" } },
        },
      },
      UsagePlan: {
        type: "object",
        required: ["id", "title", "limits", "approvalRequired"],
        properties: {
          id: { type: "string" },
          title: { type: "string" },
          description: { type: "string" },
          limits: {
            type: "object",
            properties: {
              perSecond: { type: "integer" },
              perMinute: { type: "integer" },
              perDay: { type: "integer" },
              perMonth: { type: "integer" },
            },
          },
          approvalRequired: { type: "boolean" },
        },
      },
      Key: {
        type: "object",
        required: ["id", "createdAt"],
        properties: {
          id: { type: "string" },
          createdAt: { type: "string", format: "date-time" },
          expiresAt: { type: "string", format: "date-time", description: "set on a rotated key" },
        },
      },
      NewKey: {
        type: "object",
        required: ["key", "secret"],
        properties: {
          key: ref("Key"),
          secret: { type: "string", description: "shown once; only its SHA-256 is stored" },
          replaces: { type: "string" },
        },
      },
      App: {
        type: "object",
        required: ["id", "name", "product", "plan", "state", "createdAt", "keys"],
        properties: {
          id: { type: "string" },
          name: { type: "string" },
          product: { type: "string" },
          plan: { type: "string" },
          state: { type: "string", enum: ["approved", "pending"] },
          createdAt: { type: "string", format: "date-time" },
          keys: { type: "array", items: ref("Key") },
        },
      },
      NewApp: {
        type: "object",
        required: ["name", "product", "plan"],
        properties: { name: { type: "string" }, product: { type: "string" }, plan: { type: "string" } },
      },
      Usage: {
        type: "object",
        properties: {
          plan: { type: "string" },
          keys: {
            type: "array",
            items: {
              type: "object",
              properties: {
                id: { type: "string" },
                requests: { type: "number" },
                rejected: { type: "number" },
                points: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: { at: { type: "number" }, requests: { type: "number" }, rejected: { type: "number" } },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
  paths: {
    "/me": { get: { summary: "who is signed in", responses: { "200": ok("the caller", ref("Me")) } } },
    "/portal": {
      get: {
        summary: "the portal's title, domain and branding",
        responses: { "200": ok("branding", { type: "object" }), "503": error("not loaded yet") },
      },
    },
    "/apis": {
      get: {
        summary: "the APIs the caller may see",
        responses: {
          "200": ok("APIs", { type: "object", properties: { apis: { type: "array", items: ref("Api") } } }),
        },
      },
    },
    "/apis/{apiId}": {
      get: {
        summary: "one API",
        parameters: [idParam("apiId", "namespace/name, the slash percent-encoded")],
        responses: { "200": ok("the API", ref("Api")), "404": error("unknown or not visible to the caller") },
      },
    },
    "/apis/{apiId}/schema": {
      get: {
        summary: "the API's OpenAPI document",
        parameters: [idParam("apiId", "namespace/name, the slash percent-encoded")],
        responses: {
          "200": ok("the document", { type: "object" }),
          "404": error("unknown, not visible, or unreadable"),
        },
      },
    },
    "/usage-plans": {
      get: {
        summary: "the plans of the APIs the caller may see",
        responses: {
          "200": ok("plans", {
            type: "object",
            properties: { usagePlans: { type: "array", items: ref("UsagePlan") } },
          }),
        },
      },
    },
    "/apps": {
      get: {
        summary: "the caller's apps",
        security: signedIn,
        responses: {
          "200": ok("apps", { type: "object", properties: { apps: { type: "array", items: ref("App") } } }),
          "401": error("not signed in"),
        },
      },
      post: {
        summary: "create an app subscribed to one plan of one API",
        security: signedIn,
        requestBody: { required: true, content: json(ref("NewApp")) },
        responses: {
          "201": ok("the app (pending when the plan needs approval)", ref("App")),
          "400": error("bad input"),
        },
      },
    },
    "/apps/{appId}": {
      get: {
        summary: "one of the caller's apps",
        security: signedIn,
        parameters: [appId],
        responses: { "200": ok("the app", ref("App")), "404": error("not the caller's") },
      },
      delete: {
        summary: "delete the app and revoke its keys",
        security: signedIn,
        parameters: [appId],
        responses: { "204": { description: "deleted" }, "404": error("not the caller's") },
      },
    },
    "/apps/{appId}/keys": {
      get: {
        summary: "the app's keys (never their secrets)",
        security: signedIn,
        parameters: [appId],
        responses: {
          "200": ok("keys", { type: "object", properties: { keys: { type: "array", items: ref("Key") } } }),
        },
      },
      post: {
        summary: "create a key; its secret is shown once",
        security: signedIn,
        parameters: [appId],
        responses: { "201": ok("the key", ref("NewKey")), "409": error("the subscription awaits approval") },
      },
    },
    "/apps/{appId}/keys/{keyId}": {
      delete: {
        summary: "revoke a key (refused at the gateway within a second)",
        security: signedIn,
        parameters: [appId, keyId],
        responses: { "204": { description: "revoked" }, "404": error("unknown key") },
      },
    },
    "/apps/{appId}/keys/{keyId}/rotate": {
      post: {
        summary: "a new key; the old one keeps working for the rotation grace period",
        security: signedIn,
        parameters: [appId, keyId],
        responses: { "201": ok("the new key", ref("NewKey")), "409": error("already rotated") },
      },
    },
    "/apps/{appId}/usage": {
      get: {
        summary: "requests and rejections per key over time",
        security: signedIn,
        parameters: [appId],
        responses: { "200": ok("usage", ref("Usage")) },
      },
    },
    "/admin/apis": {
      get: {
        summary: "every API with its status, OpenAPI problems and coverage warnings (administrators)",
        security: signedIn,
        responses: { "200": ok("APIs", { type: "object" }), "403": error("not an administrator") },
      },
    },
    "/admin/subscriptions": {
      get: {
        summary: "every app (administrators)",
        security: signedIn,
        responses: { "200": ok("apps", { type: "object" }), "403": error("not an administrator") },
      },
    },
    "/admin/subscriptions/{appId}/approve": {
      post: {
        summary: "approve an app's subscription (administrators)",
        security: signedIn,
        parameters: [appId],
        responses: {
          "200": ok("the app", ref("App")),
          "403": error("not an administrator"),
          "404": error("unknown app"),
        },
      },
    },
  },
} as const;
