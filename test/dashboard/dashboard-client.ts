import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ensureFirstAdmin } from '../../src/dashboard-auth/first-admin.js';
import { Secret } from '../../src/platform/secret.js';
import type { ServiceDeps } from '../../src/services.js';

/**
 * A cookie-keeping client for the dashboard through `app.inject()`: what a browser does with forms, minus the
 * browser (the browser tests drive real Chromium). Reads each page's form token like a browser submits it.
 */
export class DashboardClient {
  readonly cookies = new Map<string, string>();
  /** The `_csrf` value of the last page that had a form. */
  csrf: string | undefined;

  constructor(readonly app: FastifyInstance) {}

  async get(url: string): Promise<LightMyRequestResponse> {
    return this.#send('GET', url);
  }

  /** Posts a form; the page's token is added unless `fields._csrf` is given (use `null` to send none). */
  async post(url: string, fields: Record<string, string | null>): Promise<LightMyRequestResponse> {
    const form = new URLSearchParams();
    const withToken = { _csrf: this.csrf ?? null, ...fields };
    for (const [name, value] of Object.entries(withToken)) if (value !== null) form.set(name, value);
    return this.#send('POST', url, form.toString());
  }

  async #send(method: 'GET' | 'POST', url: string, body?: string): Promise<LightMyRequestResponse> {
    const response = await this.app.inject({
      method,
      url,
      headers: {
        ...(this.cookies.size > 0
          ? { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') }
          : {}),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body !== undefined ? { payload: body } : {}),
    });
    for (const cookie of response.cookies) {
      const expired =
        cookie.value === '' ||
        (cookie.expires !== undefined && cookie.expires.getTime() <= Date.now()) ||
        cookie.maxAge === 0;
      if (expired) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    const token = /name="_csrf" value="([^"]+)"/.exec(response.body)?.[1];
    if (token) this.csrf = token;
    return response;
  }

  /** Signs in through the form; returns the POST's answer (after loading the page it leads to, for its token). */
  async signIn(email: string, password: string): Promise<LightMyRequestResponse> {
    await this.get('/dashboard/sign-in');
    const answer = await this.post('/dashboard/sign-in', { email, password });
    if (answer.statusCode === 303 && typeof answer.headers.location === 'string')
      await this.get(answer.headers.location);
    return answer;
  }
}

export const ADMIN_EMAIL = 'ops@example.com';
export const ADMIN_PASSWORD = 'correct horse battery staple';

/** The first admin, as MAILBRIDGE_ADMIN_EMAIL / _PASSWORD would seed it at start. */
export async function seedAdmin(deps: ServiceDeps, email = ADMIN_EMAIL, password = ADMIN_PASSWORD): Promise<void> {
  await ensureFirstAdmin(deps, { email, password: new Secret(password) });
}
