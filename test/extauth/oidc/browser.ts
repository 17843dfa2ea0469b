import { Authorization } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient } from "../../../src/lib/index.js";

/** One response the browser saw. `upstream` is set when ext-auth let the request through to the app. */
export interface Page {
  url: string;
  status: number;
  location: string | undefined;
  /** Set-Cookie values of this response. */
  setCookies: string[];
  body: string;
  upstream?: { headers: Record<string, string>; dynamicMetadata: unknown };
  /** Why a check denied (the verdict's reason, from the dynamic metadata). */
  reason?: string;
}

interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

function htmlDecode(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/**
 * A scripted browser. Requests to the app's origin go through a real Check call, playing Envoy's
 * part (a denied check becomes its HTTP response, an allowed one reaches a stand-in upstream);
 * everything else (the provider) is a real HTTP request. Cookies are kept per host and path.
 */
export class Browser {
  readonly #check: ReturnType<typeof createClient<(typeof Authorization)["method"]>>;
  /** Cookies by host, then by name and path. */
  readonly #jar = new Map<string, Map<string, StoredCookie>>();
  /** Every URL requested, in order. */
  readonly history: string[] = [];

  constructor(
    checkAddress: string,
    private readonly appOrigin: string,
    private readonly configId: string,
  ) {
    this.#check = createClient(Authorization, checkAddress);
  }

  close(): void {
    this.#check.close();
  }

  /** The value of a cookie the app's or provider's host set (any path). */
  cookie(host: string, name: string): string | undefined {
    return [...(this.#jar.get(host)?.values() ?? [])].find((cookie) => cookie.name === name)?.value;
  }

  cookieNames(host: string): string[] {
    return [...(this.#jar.get(host)?.values() ?? [])].map((cookie) => cookie.name);
  }

  setCookie(host: string, name: string, value: string, path = "/"): void {
    const cookies = this.#jar.get(host) ?? new Map<string, StoredCookie>();
    cookies.set(`${name} ${path}`, { name, value, path });
    this.#jar.set(host, cookies);
  }

  #store(host: string, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const path = attributes.map((a) => /^\s*path=(.*)$/i.exec(a)?.[1]?.trim()).find((p) => p !== undefined) ?? "/";
      const expired = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute));
      if (expired || value === "") this.#jar.get(host)?.delete(`${name} ${path}`);
      else this.setCookie(host, name, value, path);
    }
  }

  /** The cookies for a request to `path`, most specific path first, as browsers send them. */
  #cookieHeader(host: string, path: string): string | undefined {
    const cookies = [...(this.#jar.get(host)?.values() ?? [])]
      .filter(
        (cookie) =>
          path === cookie.path || path.startsWith(cookie.path.endsWith("/") ? cookie.path : `${cookie.path}/`),
      )
      .sort((a, b) => b.path.length - a.path.length);
    if (cookies.length === 0) return undefined;
    return cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join("; ");
  }

  /** One request, no redirects followed. */
  async request(
    url: string,
    options: { method?: string; headers?: Record<string, string>; form?: Record<string, string> } = {},
  ): Promise<Page> {
    this.history.push(url);
    const target = new URL(url);
    const method = options.method ?? (options.form ? "POST" : "GET");
    const headers: Record<string, string> = { ...options.headers };
    const cookie = this.#cookieHeader(target.host, target.pathname);
    if (cookie !== undefined) headers["cookie"] = cookie;
    if (target.origin === this.appOrigin) return this.#throughEnvoy(target, method, headers);
    const response = await fetch(url, {
      method,
      headers: options.form ? { ...headers, "content-type": "application/x-www-form-urlencoded" } : headers,
      ...(options.form ? { body: new URLSearchParams(options.form) } : {}),
      redirect: "manual",
      signal: AbortSignal.timeout(10_000),
    });
    const setCookies = response.headers.getSetCookie();
    this.#store(target.host, setCookies);
    const location = response.headers.get("location");
    return {
      url,
      status: response.status,
      location: location === null ? undefined : new URL(location, url).href,
      setCookies,
      body: await response.text(),
    };
  }

  async #throughEnvoy(target: URL, method: string, headers: Record<string, string>): Promise<Page> {
    const response = await this.#check.check(
      {
        attributes: {
          contextExtensions: { config_id: this.configId },
          request: {
            http: {
              method,
              path: target.pathname + target.search,
              host: target.host,
              scheme: target.protocol.replace(":", ""),
              headers: { ...headers, ":authority": target.host, ":path": target.pathname + target.search },
            },
          },
        },
      },
      { timeoutMs: 10_000 },
    );
    const url = target.href;
    if (response.httpResponse.case === "okResponse") {
      const ok = response.httpResponse.value;
      const setCookies = ok.responseHeadersToAdd
        .filter((option) => option.header?.key.toLowerCase() === "set-cookie")
        .map((option) => option.header?.value ?? "");
      this.#store(target.host, setCookies);
      const upstreamHeaders: Record<string, string> = {};
      for (const option of ok.headers) if (option.header) upstreamHeaders[option.header.key] = option.header.value;
      return {
        url,
        status: 200,
        location: undefined,
        setCookies,
        body: "upstream",
        upstream: { headers: upstreamHeaders, dynamicMetadata: response.dynamicMetadata },
      };
    }
    const denied = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value : undefined;
    const responseHeaders = denied?.headers ?? [];
    const setCookies = responseHeaders
      .filter((option) => option.header?.key.toLowerCase() === "set-cookie")
      .map((option) => option.header?.value ?? "");
    this.#store(target.host, setCookies);
    const location = responseHeaders.find((option) => option.header?.key.toLowerCase() === "location")?.header?.value;
    return {
      url,
      status: denied?.status?.code ?? 403,
      location,
      setCookies,
      body: denied?.body ?? "",
      reason: String(response.dynamicMetadata?.["reason"] ?? ""),
    };
  }

  /** Requests `url` and follows redirects until a page that is not one. */
  async navigate(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Page> {
    let page = await this.request(url, options);
    for (let hops = 0; page.location !== undefined && page.status >= 300 && page.status < 400; hops++) {
      if (hops === 20) throw new Error(`too many redirects from ${url}`);
      page = await this.request(page.location);
    }
    return page;
  }

  /** Submits the page's first form with its hidden fields plus `fields`, and follows the redirects. */
  async submitForm(page: Page, fields: Record<string, string> = {}): Promise<Page> {
    const form = /<form\b[^>]*>/i.exec(page.body)?.[0];
    const action = form === undefined ? undefined : /\baction="([^"]*)"/i.exec(form)?.[1];
    if (action === undefined) throw new Error(`no form on ${page.url}: ${page.body.slice(0, 200)}`);
    const values: Record<string, string> = {};
    for (const input of page.body.match(/<input\b[^>]*>/gi) ?? []) {
      const name = /\bname="([^"]*)"/i.exec(input)?.[1];
      const value = /\bvalue="([^"]*)"/i.exec(input)?.[1];
      if (/\btype="hidden"/i.test(input) && name !== undefined) values[name] = htmlDecode(value ?? "");
    }
    let next = await this.request(new URL(htmlDecode(action), page.url).href, { form: { ...values, ...fields } });
    for (let hops = 0; next.location !== undefined && next.status >= 300 && next.status < 400; hops++) {
      if (hops === 20) throw new Error(`too many redirects after submitting ${page.url}`);
      next = await this.request(next.location);
    }
    return next;
  }

  /**
   * Logs in as `user` the way a person would: opens `url`, is sent to the provider, signs in,
   * consents, and follows the redirects back. Resolves to the page that finally answers.
   */
  async logIn(url: string, user: string): Promise<Page> {
    let page = await this.navigate(url);
    for (let step = 0; step < 4 && page.upstream === undefined && page.status === 200; step++) {
      if (page.body.includes('name="prompt" value="login"'))
        page = await this.submitForm(page, { login: user, password: "pw" });
      else if (page.body.includes('name="prompt" value="consent"')) page = await this.submitForm(page);
      else break;
    }
    return page;
  }
}
