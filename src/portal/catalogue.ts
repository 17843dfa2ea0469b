// What the portal offers, read off the desired state: products, plans, the portal's branding, and
// who may see what. Pure: the same resources and statuses give the same catalogue.
import type { PlanLimits } from "../gen/gantry/v1/portal_pb.js";
import { Visibility } from "../gen/gantry/v1/portal_pb.js";
import { kindKey, type Resource, type ResourceOf, refName } from "../resources/index.js";
import type { Developer } from "./identity.js";

export interface ResourceStatusView {
  state: string;
  messages: string[];
}

export interface PlanView {
  /** `namespace/name`. */
  id: string;
  title: string;
  description: string;
  limits: { perSecond: number; perMinute: number; perDay: number; perMonth: number };
  approvalRequired: boolean;
}

export interface ProductView {
  /** `namespace/name`. */
  id: string;
  title: string;
  version: string;
  description: string;
  /** `namespace/name` of each route table. */
  routeTables: string[];
  /** The plans offered (those that exist), in the product's order. */
  plans: string[];
  published?: { visibility: "PUBLIC" | "SIGNED_IN" | "GROUPS"; groups: string[] };
  /** The management server's status of the ApiProduct (translation), when known. */
  status?: ResourceStatusView;
}

export interface Branding {
  title: string;
  logoUrl: string;
  primaryColor: string;
  backgroundColor: string;
}

export interface Catalogue {
  /** The Portal resource served, `namespace/name`; undefined when there is none. */
  portal?: string;
  domain: string;
  branding: Branding;
  adminGroups: string[];
  products: Map<string, ProductView>;
  plans: Map<string, PlanView>;
  /** The product resources, for their OpenAPI source. */
  productResources: Map<string, ResourceOf<"ApiProduct">>;
  routeTables: Map<string, ResourceOf<"RouteTable">>;
}

const defaultBranding: Branding = {
  title: "Developer portal",
  logoUrl: "",
  primaryColor: "#1f5fbf",
  backgroundColor: "#ffffff",
};

function limitsOf(limits: PlanLimits | undefined): PlanView["limits"] {
  return {
    perSecond: limits?.perSecond ?? 0,
    perMinute: limits?.perMinute ?? 0,
    perDay: limits?.perDay ?? 0,
    perMonth: limits?.perMonth ?? 0,
  };
}

function id(resource: Resource): string {
  return `${resource.metadata.namespace}/${resource.metadata.name}`;
}

/**
 * Builds the catalogue of one Portal (`portalName`, `namespace/name`; absent: the first Portal by
 * name). Without a Portal nothing is published.
 */
export function buildCatalogue(
  resources: readonly Resource[],
  statuses: ReadonlyMap<string, ResourceStatusView>,
  portalName?: string,
): Catalogue {
  const byKind = <K extends Resource["kind"]>(kind: K) =>
    resources
      .filter((r): r is ResourceOf<K> & Resource => r.kind === kind)
      .sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
  const portal = byKind("Portal").find((p) => portalName === undefined || id(p) === portalName);
  const plans = new Map<string, PlanView>();
  for (const plan of byKind("UsagePlan")) {
    if (statuses.get(kindKey("UsagePlan", id(plan)))?.state === "INVALID") continue;
    plans.set(id(plan), {
      id: id(plan),
      title: plan.spec.title || plan.metadata.name,
      description: plan.spec.description,
      limits: limitsOf(plan.spec.limits),
      approvalRequired: plan.spec.approvalRequired,
    });
  }
  const published = new Map<string, ProductView["published"]>();
  for (const entry of portal?.spec.products ?? []) {
    if (!entry.product?.name) continue;
    published.set(refName(entry.product, portal?.metadata.namespace ?? "default"), {
      visibility: Visibility[entry.visibility] as "PUBLIC" | "SIGNED_IN" | "GROUPS",
      groups: [...entry.groups],
    });
  }
  const products = new Map<string, ProductView>();
  const productResources = new Map<string, ResourceOf<"ApiProduct">>();
  for (const product of byKind("ApiProduct")) {
    const ns = product.metadata.namespace;
    const status = statuses.get(kindKey("ApiProduct", id(product)));
    const pub = published.get(id(product));
    productResources.set(id(product), product);
    products.set(id(product), {
      id: id(product),
      title: product.spec.title || product.metadata.name,
      version: product.spec.version,
      description: product.spec.description,
      routeTables: product.spec.routeTables.map((r) => refName(r, ns)),
      plans: product.spec.usagePlans.map((r) => refName(r, ns)).filter((p) => plans.has(p)),
      ...(pub ? { published: pub } : {}),
      ...(status ? { status } : {}),
    });
  }
  const branding = portal?.spec.branding;
  return {
    ...(portal ? { portal: id(portal) } : {}),
    domain: portal?.spec.domain ?? "",
    branding: {
      title: branding?.title || defaultBranding.title,
      logoUrl: branding?.logoUrl || defaultBranding.logoUrl,
      primaryColor: branding?.primaryColor || defaultBranding.primaryColor,
      backgroundColor: branding?.backgroundColor || defaultBranding.backgroundColor,
    },
    adminGroups: [...(portal?.spec.adminGroups ?? [])],
    products,
    plans,
    productResources,
    routeTables: new Map(byKind("RouteTable").map((rt) => [id(rt), rt])),
  };
}

export function isAdmin(catalogue: Catalogue, viewer: Developer | undefined): boolean {
  return viewer?.groups.some((g) => catalogue.adminGroups.includes(g)) === true;
}

/**
 * Whether the viewer may see a product: a published product by its visibility; an unpublished one
 * (or an invalid one) only by an admin.
 */
export function canSee(catalogue: Catalogue, product: ProductView, viewer: Developer | undefined): boolean {
  if (isAdmin(catalogue, viewer)) return true;
  if (product.status?.state === "INVALID") return false;
  const pub = product.published;
  if (!pub) return false;
  switch (pub.visibility) {
    case "PUBLIC":
      return true;
    case "SIGNED_IN":
      return viewer !== undefined;
    case "GROUPS":
      return viewer?.groups.some((g) => pub.groups.includes(g)) === true;
  }
}

/** The products a viewer sees, by id. */
export function visibleProducts(catalogue: Catalogue, viewer: Developer | undefined): ProductView[] {
  return [...catalogue.products.values()].filter((p) => canSee(catalogue, p, viewer));
}
