/** Resources for the end-to-end tests: one gateway whose routes use ext-auth and rate limiting. */
export function shopResources(limitPerMinute: number): string {
  return `apiVersion: gantry/v1
kind: Gateway
metadata: { name: edge, namespace: e2e }
spec:
  proxies: { labels: { gateway: e2e } }
  listeners: [{ port: 8080 }]
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: shop, namespace: e2e }
spec:
  hosts: [shop.example.com]
  gateways: [{ name: edge }]
  http:
    - name: account
      labels: { auth: basic, limited: "true" }
      matchers: [{ prefix: /account }]
      forwardTo: { destinations: [{ destination: { name: shop } }] }
    - name: assets
      matchers: [{ prefix: /assets }]
      forwardTo: { destinations: [{ destination: { name: shop } }] }
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: shop, namespace: e2e }
spec:
  ports: [{ number: 8080 }]
  endpoints: [{ address: 10.0.0.1 }]
---
apiVersion: gantry/v1
kind: AuthConfig
metadata: { name: admins, namespace: e2e }
spec:
  configs:
    - name: basic
      basicAuth:
        realm: shop
        users: { ada: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" }
---
apiVersion: gantry/v1
kind: ExtAuthPolicy
metadata: { name: login, namespace: e2e }
spec:
  applyToRoutes: [{ route: { labels: { auth: basic } } }]
  authConfig: { name: admins }
---
apiVersion: gantry/v1
kind: RateLimitPolicy
metadata: { name: per-user, namespace: e2e }
spec:
  applyToRoutes: [{ route: { labels: { limited: "true" } } }]
  domain: shop
  rateLimits:
    - actions:
        - genericKey: { descriptorKey: route, descriptorValue: account }
        - requestHeaders: { headerName: x-user, descriptorKey: user }
  descriptors:
    - key: route
      value: account
      descriptors:
        - key: user
          rateLimit: { unit: MINUTE, requestsPerUnit: ${limitPerMinute} }
`;
}
