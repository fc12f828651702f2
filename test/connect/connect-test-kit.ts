import assert from 'node:assert/strict';
import { sql } from 'kysely';
import {
  type DriverCallback,
  elementAttribute,
  hasElement,
  pageText,
  SignInDriver,
  type SignInScript,
} from '../../emulator/identity/sign-in-driver.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { type CreateConnectSessionInput, createConnectSession } from '../../src/connect/connect-sessions.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import type { TestService } from '../support/service.js';

/**
 * What the connect tests share: an organisation with an allowed return URL, a cookie-jar "browser" for our own pages
 * (the emulator's pages are driven by SignInDriver, which keeps its own jar as a real browser keeps cookies per
 * site), and helpers that take a session from the provider choice to Microsoft and back.
 */

export const RETURN_URL = 'https://app.example.com/mailbridge/done';

export async function createTestOrganization(service: TestService): Promise<string> {
  const organization = await createOrganization(service.deps.db, service.deps.clock, {
    name: 'Acme Recruiting',
    allowedReturnUrls: ['https://app.example.com/mailbridge'],
  });
  return organization.id;
}

export async function newSession(
  service: TestService,
  organizationId: string,
  input: Partial<CreateConnectSessionInput> = {},
) {
  return createConnectSession(service.deps, {
    organizationId,
    ownerExternalId: 'owner-1',
    permissionProfile: 'send',
    returnUrl: RETURN_URL,
    ...input,
  });
}

export interface Page {
  status: number;
  html: string;
  location: string | null;
}

/** A browser for our own origin: a cookie jar and manual redirects. */
export class Browser {
  readonly cookies = new Map<string, string>();

  async get(url: string): Promise<Page> {
    return this.#request('GET', url);
  }

  async post(url: string, form: Record<string, string> = {}): Promise<Page> {
    return this.#request('POST', url, new URLSearchParams(form));
  }

  async #request(method: 'GET' | 'POST', url: string, body?: URLSearchParams): Promise<Page> {
    const headers: Record<string, string> = {};
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (cookie) headers.cookie = cookie;
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, { method, headers, body: body?.toString(), redirect: 'manual' });
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const index = pair!.indexOf('=');
      const name = pair!.slice(0, index).trim();
      const value = pair!.slice(index + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: response.status, html: await response.text(), location: response.headers.get('location') };
  }
}

/** Presses the provider button: POST /connect/{id}/start → 303 to Microsoft's (routed) authorize URL. */
export async function startAtMicrosoft(service: TestService, browser: Browser, sessionId: string): Promise<string> {
  const answer = await browser.post(`${service.url}/connect/${sessionId}/start`);
  assert.equal(answer.status, 303, pageText(answer.html));
  const location = answer.location ?? '';
  assert.ok(location.startsWith(service.emulator.url), `redirected to ${location}`);
  return location;
}

/**
 * Delivers Microsoft's answer (as the emulator addressed it) to our callback, in this browser, and follows the 303
 * to the session's own page that a connected answer gets (as a browser does).
 */
export async function deliverCallback(browser: Browser, callback: DriverCallback): Promise<Page> {
  assert.equal(callback.responseMode, 'query');
  const answer = await browser.get(`${callback.url}?${callback.params}`);
  if (answer.status !== 303) return answer;
  assert.match(answer.location ?? '', /^\/connect\/cs_[0-9a-z]{26}$/, 'a clean URL: no code, no state');
  return browser.get(new URL(answer.location ?? '', callback.url).href);
}

/** Session page → provider → Microsoft sign-in (scripted) → our callback: the outcome page and the callback. */
export async function connectThroughMicrosoft(
  service: TestService,
  browser: Browser,
  sessionId: string,
  script: Partial<SignInScript> & { email: string },
  driver = new SignInDriver(),
): Promise<{ page: Page; callback: DriverCallback; authorizeUrl: string }> {
  const authorizeUrl = await startAtMicrosoft(service, browser, sessionId);
  const callback = await driver.signIn(authorizeUrl, { password: DEMO_PASSWORD, ...script });
  const page = await deliverCallback(browser, callback);
  return { page, callback, authorizeUrl };
}

export function outcomeStatus(html: string): string | undefined {
  return elementAttribute(html, 'outcome', 'data-status');
}

export function problemOf(html: string): string | undefined {
  return elementAttribute(html, 'connect-problem', 'data-problem');
}

export function textOf(html: string, id: string): string {
  const match = new RegExp(`<([a-z0-9]+)[^>]*\\sid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return match ? pageText(match[2]!) : '';
}

export { elementAttribute, hasElement, pageText };

/** Every row of every table, as JSON text (for "no plaintext token anywhere in the database"). */
export async function dumpDatabase(service: TestService): Promise<Array<{ name: string; content: string }>> {
  const db = service.deps.db;
  const tables =
    service.deps.dialect === 'sqlite'
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows.map(
          (row) => row.name,
        )
      : (
          await sql<{ name: string }>`select table_name as name from information_schema.tables
            where table_schema = current_schema()`.execute(db)
        ).rows.map((row) => row.name);
  const out: Array<{ name: string; content: string }> = [];
  for (const table of tables) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    out.push({
      name: `table ${table}`,
      content: JSON.stringify(rows.rows, (_key, value) => (typeof value === 'bigint' ? value.toString() : value)),
    });
  }
  return out;
}
