// The portal's REST API under /portal/v1 (its OpenAPI document: api-document.ts; docs/portal.md).
import type { IncomingMessage, ServerResponse } from "node:http";
import { coverageWarnings, operationsOf, routeTableRoutes } from "../openapi/index.js";
import { apiDocument } from "./api-document.js";
import { type App, AppConflict, AppNotFound, type AppStore } from "./apps.js";
import { type Catalogue, canSee, isAdmin, type ProductView, visibleProducts } from "./catalogue.js";
import { HttpError, readJsonBody, sendJson, stringField } from "./http.js";
import type { Developer } from "./identity.js";
import type { OpenApiDocuments } from "./openapi.js";
import type { UsageRecorder } from "./usage.js";

export interface PortalApiDeps {
  catalogue(): Catalogue | undefined;
  documents: OpenApiDocuments;
  apps: AppStore;
  usage?: UsageRecorder;
  /** How long a rotated key keeps working beside its replacement. */
  rotationGraceMs: number;
  maxBodyBytes: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, viewer: Developer | undefined) => Promise<void>;

function productJson(p: ProductView) {
  return { id: p.id, title: p.title, version: p.version, description: p.description, plans: p.plans };
}

function appJson(app: App) {
  return {
    id: app.id,
    name: app.name,
    product: app.product,
    plan: app.plan,
    state: app.state,
    createdAt: app.createdAt,
    keys: app.keys,
  };
}

/** The /portal/v1 handler: `segments` are the path's segments after `portal/v1`. */
export function portalApi(deps: PortalApiDeps): (segments: string[], ...args: Parameters<Handler>) => Promise<void> {
  const catalogue = (): Catalogue => {
    const c = deps.catalogue();
    if (!c) throw new HttpError(503, "the portal has not read its catalogue yet");
    return c;
  };
  const signedIn = (viewer: Developer | undefined): Developer => {
    if (!viewer) throw new HttpError(401, "sign in first (/login)");
    return viewer;
  };
  const admin = (viewer: Developer | undefined): Developer => {
    const who = signedIn(viewer);
    if (!isAdmin(catalogue(), who)) throw new HttpError(403, "only portal administrators may do this");
    return who;
  };
  /** A product the viewer may see; any other id is answered as unknown, so hidden products stay hidden. */
  const visible = (id: string, viewer: Developer | undefined): ProductView => {
    const c = catalogue();
    const product = c.products.get(id);
    if (!product || !canSee(c, product, viewer)) throw new HttpError(404, `no API ${id}`);
    return product;
  };
  /** The viewer's own app; another developer's is answered as unknown. */
  const ownApp = async (id: string, viewer: Developer | undefined): Promise<App> => {
    const who = signedIn(viewer);
    const app = await deps.apps.get(id);
    if (!app || app.owner !== who.id) throw new HttpError(404, `no app ${id}`);
    return app;
  };

  const get: Record<string, (args: string[], viewer: Developer | undefined) => Promise<unknown>> = {
    "openapi.json": async () => apiDocument,
    portal: async () => {
      const c = catalogue();
      return { title: c.branding.title, domain: c.domain, branding: c.branding };
    },
    me: async (_args, viewer) =>
      viewer
        ? {
            signedIn: true,
            id: viewer.id,
            email: viewer.email,
            groups: viewer.groups,
            admin: isAdmin(catalogue(), viewer),
          }
        : { signedIn: false },
    apis: async ([id, sub], viewer) => {
      if (id === undefined) return { apis: visibleProducts(catalogue(), viewer).map(productJson) };
      const product = visible(id, viewer);
      const resource = catalogue().productResources.get(product.id);
      if (sub === "schema") {
        const loaded = await deps.documents.get(product.id, resource?.spec.openapi);
        if (!loaded.document) throw new HttpError(404, `API ${id} has no readable OpenAPI document`);
        return loaded.document;
      }
      if (sub !== undefined) throw new HttpError(404, `no such resource: apis/${id}/${sub}`);
      return productJson(product);
    },
    "usage-plans": async (_args, viewer) => {
      const c = catalogue();
      const offered = new Set(visibleProducts(c, viewer).flatMap((p) => p.plans));
      return { usagePlans: [...c.plans.values()].filter((p) => offered.has(p.id)) };
    },
    apps: async ([id, sub], viewer) => {
      const who = signedIn(viewer);
      if (id === undefined) {
        const mine = (await deps.apps.all()).filter((a) => a.owner === who.id);
        return { apps: mine.map(appJson) };
      }
      const app = await ownApp(id, viewer);
      if (sub === undefined) return appJson(app);
      if (sub === "keys") return { keys: app.keys };
      if (sub === "usage") {
        const keys = [];
        for (const k of app.keys) {
          keys.push({ id: k.id, ...((await deps.usage?.usage(k.id)) ?? { points: [], requests: 0, rejected: 0 }) });
        }
        return { plan: app.plan, keys };
      }
      throw new HttpError(404, `no such resource: apps/${id}/${sub}`);
    },
    admin: async ([what], viewer) => {
      admin(viewer);
      const c = catalogue();
      if (what === "subscriptions") {
        return {
          subscriptions: (await deps.apps.all()).map((a) => ({
            ...appJson(a),
            owner: a.owner,
            ownerEmail: a.ownerEmail,
          })),
        };
      }
      if (what === "apis") {
        const apis = [];
        for (const product of c.products.values()) {
          const resource = c.productResources.get(product.id);
          const loaded = await deps.documents.get(product.id, resource?.spec.openapi);
          const tables = product.routeTables.flatMap((t) => c.routeTables.get(t) ?? []);
          apis.push({
            ...productJson(product),
            published: product.published ?? null,
            status: product.status ?? null,
            openapi: {
              problems: loaded.problems,
              warnings:
                loaded.document && loaded.problems.length === 0
                  ? coverageWarnings(operationsOf(loaded.document), routeTableRoutes(tables))
                  : [],
            },
          });
        }
        return { apis };
      }
      throw new HttpError(404, `no such resource: admin/${what ?? ""}`);
    },
  };

  const post = async (
    segments: string[],
    req: IncomingMessage,
    viewer: Developer | undefined,
  ): Promise<[number, unknown]> => {
    const [what, id, sub, keyId, action] = segments;
    if (what === "apps" && id === undefined) {
      const who = signedIn(viewer);
      const body = await readJsonBody(req, deps.maxBodyBytes);
      const product = visible(stringField(body, "product"), viewer);
      const planId = stringField(body, "plan");
      const plan = product.plans.includes(planId) ? catalogue().plans.get(planId) : undefined;
      if (!plan)
        throw new HttpError(
          400,
          `plan: API ${product.id} offers no plan ${planId} (offered: ${product.plans.join(", ") || "none"})`,
        );
      const app = await deps.apps.create({
        name: stringField(body, "name", 100),
        owner: who.id,
        ownerEmail: who.email,
        product: product.id,
        plan: plan.id,
        approvalRequired: plan.approvalRequired,
      });
      return [201, appJson(app)];
    }
    if (what === "apps" && id !== undefined && sub === "keys") {
      const app = await ownApp(id, viewer);
      if (keyId === undefined) {
        const { key, secret } = await deps.apps.createKey(app.id);
        return [201, { key, secret }];
      }
      if (action === "rotate") {
        const { key, secret } = await deps.apps.rotateKey(app.id, keyId, deps.rotationGraceMs);
        return [201, { key, secret, replaces: keyId }];
      }
    }
    if (what === "admin" && id === "subscriptions" && sub !== undefined && keyId === "approve") {
      admin(viewer);
      return [200, appJson(await deps.apps.approve(sub))];
    }
    throw new HttpError(404, `no such resource: POST ${segments.join("/")}`);
  };

  const del = async (segments: string[], viewer: Developer | undefined): Promise<void> => {
    const [what, id, sub, keyId] = segments;
    if (what !== "apps" || id === undefined) throw new HttpError(404, `no such resource: DELETE ${segments.join("/")}`);
    const app = await ownApp(id, viewer);
    if (sub === undefined) await deps.apps.delete(app.id);
    else if (sub === "keys" && keyId !== undefined) await deps.apps.revokeKey(app.id, keyId);
    else throw new HttpError(404, `no such resource: DELETE ${segments.join("/")}`);
  };

  return async (segments, req, res, viewer) => {
    try {
      if (req.method === "GET" || req.method === "HEAD") {
        const [first, ...rest] = segments;
        const handler = first === undefined ? undefined : get[first];
        if (!handler || !Object.hasOwn(get, first ?? ""))
          throw new HttpError(404, `no such resource: ${segments.join("/")}`);
        sendJson(res, 200, await handler(rest, viewer));
      } else if (req.method === "POST") {
        const [status, value] = await post(segments, req, viewer);
        sendJson(res, status, value);
      } else if (req.method === "DELETE") {
        await del(segments, viewer);
        res.writeHead(204).end();
      } else {
        throw new HttpError(405, `method ${req.method} is not allowed`);
      }
    } catch (err) {
      if (err instanceof HttpError) sendJson(res, err.status, { error: err.message });
      else if (err instanceof AppNotFound) sendJson(res, 404, { error: err.message });
      else if (err instanceof AppConflict) sendJson(res, 409, { error: err.message });
      else throw err;
    }
  };
}
