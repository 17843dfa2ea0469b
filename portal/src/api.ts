// The portal's REST API (/portal/v1) as the pages call it.

export interface Me {
  signedIn: boolean;
  id?: string;
  email?: string;
  groups?: string[];
  admin?: boolean;
}

export interface Branding {
  title: string;
  logoUrl: string;
  primaryColor: string;
  backgroundColor: string;
}

export interface Api {
  id: string;
  title: string;
  version: string;
  description: string;
  plans: string[];
}

export interface Plan {
  id: string;
  title: string;
  description: string;
  limits: { perSecond: number; perMinute: number; perDay: number; perMonth: number };
  approvalRequired: boolean;
}

export interface Key {
  id: string;
  createdAt: string;
  expiresAt?: string;
}

export interface App {
  id: string;
  name: string;
  product: string;
  plan: string;
  state: "approved" | "pending";
  createdAt: string;
  keys: Key[];
  owner?: string;
  ownerEmail?: string;
}

export interface UsagePoint {
  at: number;
  requests: number;
  rejected: number;
}

export interface Usage {
  plan: string;
  keys: { id: string; requests: number; rejected: number; points: UsagePoint[] }[];
}

export interface AdminApi extends Api {
  published: { visibility: string; groups: string[] } | null;
  status: { state: string; messages: string[] } | null;
  openapi: { problems: string[]; warnings: string[] };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`/portal/v1/${path}`, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const value = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new ApiError(response.status, value.error ?? `HTTP ${response.status}`);
  return value;
}

/** A product id (`namespace/name`) as one path segment. */
export const apiPath = (id: string) => encodeURIComponent(id);

export const portalApi = {
  me: () => call<Me>("GET", "me"),
  portal: () => call<{ title: string; branding: Branding }>("GET", "portal"),
  apis: () => call<{ apis: Api[] }>("GET", "apis").then((r) => r.apis),
  api: (id: string) => call<Api>("GET", `apis/${apiPath(id)}`),
  plans: () => call<{ usagePlans: Plan[] }>("GET", "usage-plans").then((r) => r.usagePlans),
  apps: () => call<{ apps: App[] }>("GET", "apps").then((r) => r.apps),
  createApp: (name: string, product: string, plan: string) => call<App>("POST", "apps", { name, product, plan }),
  deleteApp: (id: string) => call<void>("DELETE", `apps/${id}`),
  createKey: (app: string) => call<{ key: Key; secret: string }>("POST", `apps/${app}/keys`, {}),
  rotateKey: (app: string, key: string) =>
    call<{ key: Key; secret: string }>("POST", `apps/${app}/keys/${key}/rotate`, {}),
  revokeKey: (app: string, key: string) => call<void>("DELETE", `apps/${app}/keys/${key}`),
  usage: (app: string) => call<Usage>("GET", `apps/${app}/usage`),
  adminApis: () => call<{ apis: AdminApi[] }>("GET", "admin/apis").then((r) => r.apis),
  subscriptions: () => call<{ subscriptions: App[] }>("GET", "admin/subscriptions").then((r) => r.subscriptions),
  approve: (app: string) => call<App>("POST", `admin/subscriptions/${app}/approve`, {}),
};
