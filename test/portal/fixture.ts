/** The desired state of the portal's end-to-end test: a product behind API keys, its plans, and the portal's own login. */
export interface FixtureOptions {
  issuer: string;
  portalOrigin: string;
  client: { id: string; secret: string };
  /** Per minute, per key, on the free plan. */
  freePerMinute: number;
}

export const petsDocument = `openapi: 3.0.3
info: { title: Pet store, version: "1.0", description: Pets and their visits. }
servers: [{ url: /v1 }]
paths:
  /pets:
    get:
      summary: List pets
      operationId: listPets
      responses: { "200": { description: the pets } }
  /pets/{id}:
    get:
      summary: Show one pet
      operationId: showPet
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: the pet } }
`;

const indent = (text: string, spaces: number) =>
  text
    .split("\n")
    .map((line) => (line === "" ? line : `${" ".repeat(spaces)}${line}`))
    .join("\n");

/** The Portal resource: `pets` published to everyone, and `internal` too once `publishInternal`. */
export function portalResource(publishInternal: boolean): string {
  return `apiVersion: gantry/v1
kind: Portal
metadata: { name: developers, namespace: e2e }
spec:
  domain: developers.example.com
  branding: { title: Example developers, primaryColor: "#0b6e4f", backgroundColor: "#f7faf9" }
  adminGroups: [api-admins]
  products:
    - product: { name: pets }
      visibility: PUBLIC
${publishInternal ? "    - product: { name: internal }\n      visibility: SIGNED_IN\n" : ""}`;
}

export function portalFixture(o: FixtureOptions): string {
  const route = (
    table: string,
    host: string,
    prefix: string,
    labels: string,
    destination: string,
  ) => `apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${table}, namespace: e2e }
spec:
  hosts: [${host}]
  gateways: [{ name: edge }]
  http:
    - name: ${table}
      labels: { ${labels} }
      matchers: [{ prefix: ${prefix} }]
      forwardTo: { destinations: [{ destination: { name: ${destination} } }] }
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: ${destination}, namespace: e2e }
spec:
  ports: [{ number: 8080 }]
  endpoints: [{ address: 10.0.0.9 }]
---
`;
  return `apiVersion: gantry/v1
kind: Gateway
metadata: { name: edge, namespace: e2e }
spec:
  proxies: { labels: { gateway: e2e } }
  listeners: [{ port: 8080 }]
---
${route("pets", "pets.example.com", "/v1/pets", "api: pets", "pets")}${route("internal", "internal.example.com", "/internal", "api: internal", "internal")}${route("developers", "developers.example.com", "/", "portal: login", "portal")}apiVersion: gantry/v1
kind: AuthConfig
metadata: { name: pets-keys, namespace: e2e }
spec:
  configs:
    - name: key
      apiKeyAuth: { headerName: x-api-key, labelSelector: { portal-product: e2e/pets } }
---
apiVersion: gantry/v1
kind: AuthConfig
metadata: { name: portal, namespace: e2e }
spec:
  configs:
    - name: login
      oauth2:
        oidcAuthorizationCode:
          issuerUrl: ${o.issuer}
          clientId: ${o.client.id}
          clientSecret: { secret: ${o.client.secret} }
          appUrl: ${o.portalOrigin}
          callbackPath: /oidc/callback
          logoutPath: /logout
          afterLogoutUrl: ${o.portalOrigin}/
          scopes: [email, profile, groups]
          session:
            redis: { keyPrefix: "portal:" }
            cookieOptions: { secure: false }
          claimsToHeaders:
            - { claim: sub, header: x-portal-user }
            - { claim: email, header: x-portal-email }
            - { claim: groups, header: x-portal-groups }
---
apiVersion: gantry/v1
kind: ExtAuthPolicy
metadata: { name: pets-keys, namespace: e2e }
spec:
  applyToRoutes: [{ route: { labels: { api: pets } } }]
  authConfig: { name: pets-keys }
---
apiVersion: gantry/v1
kind: ExtAuthPolicy
metadata: { name: portal-login, namespace: e2e }
spec:
  applyToRoutes: [{ route: { labels: { portal: login } } }]
  authConfig: { name: portal }
---
apiVersion: gantry/v1
kind: UsagePlan
metadata: { name: free, namespace: e2e }
spec:
  title: Free
  description: For trying things out
  limits: { perMinute: ${o.freePerMinute} }
---
apiVersion: gantry/v1
kind: UsagePlan
metadata: { name: partner, namespace: e2e }
spec:
  title: Partner
  limits: { perSecond: 50, perMonth: 1000000 }
  approvalRequired: true
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: pets, namespace: e2e }
spec:
  title: Pet store
  version: "1.0"
  description: Pets and their visits.
  routeTables: [{ name: pets }]
  usagePlans: [{ name: free }, { name: partner }]
  openapi:
    inline: |
${indent(petsDocument, 6)}
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: internal, namespace: e2e }
spec:
  title: Internal inventory
  version: "0.1"
  description: Not for everyone yet.
  routeTables: [{ name: internal }]
  usagePlans: [{ name: free }]
  openapi:
    inline: |
${indent(petsDocument.replace("Pet store", "Internal inventory").replace("/v1", "/internal"), 6)}
---
${portalResource(false)}`;
}
