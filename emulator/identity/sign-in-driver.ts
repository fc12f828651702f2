/**
 * A scripted user at the emulator's sign-in pages, over real HTTP with a cookie jar: for tests (ours and other
 * modules') that need a finished sign-in without a browser. It follows the emulator's own redirects and stops at
 * the first answer addressed to the app (a redirect to another origin, or a `form_post` page), which it returns as
 * a callback.
 *
 *   const driver = new SignInDriver();
 *   const callback = await driver.signIn(authorizeUrl, { email, password, secondFactorCode, consent: 'accept' });
 *   callback.params.get('code');
 */

export interface DriverPage {
  kind: 'page';
  url: string;
  status: number;
  html: string;
}

export interface DriverCallback {
  kind: 'callback';
  /** The app URL the answer was addressed to (without the answer's parameters). */
  url: string;
  /** The answer: query, fragment or form_post fields. */
  params: URLSearchParams;
  method: 'GET' | 'POST';
  responseMode: 'query' | 'fragment' | 'form_post';
}

export type DriverResult = DriverPage | DriverCallback;

export interface SignInScript {
  email: string;
  password: string;
  secondFactorCode?: string;
  /** On the consent page (default `accept`). `accept-for-organization` also ticks the admin's checkbox. */
  consent?: 'accept' | 'accept-for-organization' | 'cancel';
  /** On "Need admin approval" (default: fail). `request` sends a request with `justification`; `back` leaves. */
  approval?: 'request' | 'back';
  justification?: string;
}

function decodeEntities(value: string): string {
  return value
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

/** The page's text without tags, for assertions on what it says. */
export function pageText(html: string): string {
  return decodeEntities(
    html
      .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' '),
  ).trim();
}

/** Whether an element with that id is on the page. */
export function hasElement(html: string, id: string): boolean {
  return new RegExp(`\\sid="${id}"`).test(html);
}

/** An attribute of the element with that id. */
export function elementAttribute(html: string, id: string, attribute: string): string | undefined {
  const tag = new RegExp(`<[^>]*\\sid="${id}"[^>]*>`).exec(html)?.[0];
  const value = tag ? new RegExp(`\\s${attribute}="([^"]*)"`).exec(tag)?.[1] : undefined;
  return value === undefined ? undefined : decodeEntities(value);
}

/** The first form's action and hidden fields. */
export function parseForm(html: string): { action: string; fields: Array<[string, string]> } | null {
  const form = /<form[^>]*\saction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return null;
  const fields: Array<[string, string]> = [];
  for (const input of form[2]!.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /\sname="([^"]*)"/.exec(input[0])?.[1];
    const value = /\svalue="([^"]*)"/.exec(input[0])?.[1] ?? '';
    if (name !== undefined) fields.push([decodeEntities(name), decodeEntities(value)]);
  }
  return { action: decodeEntities(form[1]!), fields };
}

export class SignInDriver {
  readonly #cookies = new Map<string, string>();
  #origin: string | null = null;

  /** Cookies the emulator set (e.g. `ESTSAUTH`, the remembered sign-in). */
  get cookies(): ReadonlyMap<string, string> {
    return this.#cookies;
  }

  /** Forgets the browser session, as a fresh browser would be. */
  clearCookies(): void {
    this.#cookies.clear();
  }

  /** Opens a URL (an authorize or admin consent URL) and follows the emulator's redirects. */
  async open(url: string): Promise<DriverResult> {
    this.#origin = new URL(url).origin;
    return this.#request('GET', url);
  }

  /** Submits the page's form with these fields (on top of its hidden ones). */
  async submit(page: DriverPage, fields: Record<string, string>): Promise<DriverResult> {
    const form = parseForm(page.html);
    if (!form) throw new Error(`no form on the page at ${page.url}: ${pageText(page.html).slice(0, 300)}`);
    const body = new URLSearchParams(form.fields);
    for (const [name, value] of Object.entries(fields)) body.set(name, value);
    return this.#request('POST', new URL(form.action, page.url).toString(), body);
  }

  /**
   * Drives a whole sign-in from `authorizeUrl`: sign-in page (or account picker), second factor, consent (and
   * the approval page when told how), until the emulator answers the app. Throws on an error page.
   */
  async signIn(authorizeUrl: string, script: SignInScript): Promise<DriverCallback> {
    let result = await this.open(authorizeUrl);
    for (let steps = 0; steps < 12; steps++) {
      if (result.kind === 'callback') return result;
      result = await this.#answer(result, script);
    }
    throw new Error('sign-in did not finish within 12 pages');
  }

  async #answer(page: DriverPage, script: SignInScript): Promise<DriverResult> {
    const { html } = page;
    if (hasElement(html, 'error-code')) throw new Error(`error page: ${pageText(html).slice(0, 500)}`);
    if (hasElement(html, 'password')) {
      if (hasElement(html, 'error')) throw new Error(`sign-in refused: ${pageText(html).slice(0, 500)}`);
      return this.submit(page, { login: script.email, passwd: script.password, action: 'sign-in' });
    }
    if (hasElement(html, 'code')) {
      if (hasElement(html, 'error')) throw new Error(`second factor refused: ${pageText(html).slice(0, 300)}`);
      if (!script.secondFactorCode) throw new Error('the second factor page came up, but the script has no code');
      return this.submit(page, { otc: script.secondFactorCode, action: 'second-factor' });
    }
    if (hasElement(html, 'accounts')) {
      const wanted = script.email.toLowerCase();
      const button = [...html.matchAll(/<button id="account-\d+"[^>]*value="([^"]*)"[^>]*data-email="([^"]*)"/g)].find(
        (match) => decodeEntities(match[2]!) === wanted,
      );
      return this.submit(page, { action: 'pick', account: button ? decodeEntities(button[1]!) : '' });
    }
    if (hasElement(html, 'permissions')) {
      const consent = script.consent ?? 'accept';
      const fields: Record<string, string> = { action: consent === 'cancel' ? 'cancel' : 'accept' };
      if (consent === 'accept-for-organization') fields.consent_org = '1';
      return this.submit(page, fields);
    }
    if (hasElement(html, 'request-sent')) return this.submit(page, { action: 'back' });
    if (hasElement(html, 'approval-message')) {
      if (script.approval === 'request' && hasElement(html, 'request-approval')) {
        return this.submit(page, { action: 'request-approval', justification: script.justification ?? '' });
      }
      if (script.approval === 'back' || script.approval === 'request') return this.submit(page, { action: 'back' });
      throw new Error(`admin approval needed: ${pageText(html).slice(0, 300)}`);
    }
    throw new Error(`unexpected page at ${page.url}: ${pageText(html).slice(0, 300)}`);
  }

  async #request(method: 'GET' | 'POST', url: string, body?: URLSearchParams): Promise<DriverResult> {
    let current = url;
    let currentMethod = method;
    let currentBody = body;
    for (let hops = 0; hops < 10; hops++) {
      const headers: Record<string, string> = {};
      const cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      if (cookie) headers.cookie = cookie;
      if (currentBody) headers['content-type'] = 'application/x-www-form-urlencoded';
      const response = await fetch(current, {
        method: currentMethod,
        headers,
        body: currentBody?.toString(),
        redirect: 'manual',
      });
      this.#storeCookies(response);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.arrayBuffer();
        const next = new URL(location, current);
        if (next.origin !== this.#origin) return callbackFromUrl(next);
        current = next.toString();
        currentMethod = 'GET';
        currentBody = undefined;
        continue;
      }
      const html = await response.text();
      if (/<form[^>]*name="hiddenform"/.test(html)) {
        const form = parseForm(html)!;
        return {
          kind: 'callback',
          url: form.action,
          params: new URLSearchParams(form.fields),
          method: 'POST',
          responseMode: 'form_post',
        };
      }
      return { kind: 'page', url: current, status: response.status, html };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  #storeCookies(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const index = pair!.indexOf('=');
      if (index < 0) continue;
      const name = pair!.slice(0, index).trim();
      const value = pair!.slice(index + 1).trim();
      if (attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute)) || value === '') {
        this.#cookies.delete(name);
      } else {
        this.#cookies.set(name, value);
      }
    }
  }
}

function callbackFromUrl(url: URL): DriverCallback {
  const fragment = url.hash.length > 1;
  const params = new URLSearchParams(fragment ? url.hash.slice(1) : url.search);
  const base = `${url.origin}${url.pathname}`;
  return { kind: 'callback', url: base, params, method: 'GET', responseMode: fragment ? 'fragment' : 'query' };
}
