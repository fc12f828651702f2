import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmulatorClock } from '../../../emulator/clock.js';
import type { EmulatorContext } from '../../../emulator/context.js';
import { createUser } from '../../../emulator/control/actions.js';
import { elementAttribute, pageText, SignInDriver } from '../../../emulator/identity/sign-in-driver.js';
import type { EmulatorOptions } from '../../../emulator/index.js';
import { DEMO_PASSWORD } from '../../../emulator/seed.js';
import { type SmtpSink, startSmtpSink } from '../../../emulator/smtp-sink.js';
import type { User } from '../../../emulator/state/model.js';
import { type DatabaseHandle, openDatabase } from '../../../src/db/open-database.js';
import type { DbDialect } from '../../../src/db/schema.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../../../src/microsoft/microsoft-routes.js';
import { Secret } from '../../../src/platform/secret.js';
import { Browser, deliverCallback } from '../../connect/connect-test-kit.js';
import { openTestDatabase, type TestDatabase } from '../../support/databases.js';
import { type SeededEmulator, startSeededEmulator } from '../../support/emulator.js';
import { freePort } from '../../support/ports.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver.js';
import { runCliOrThrow, ServiceProcess } from './service-process.js';

/**
 * The world of an acceptance test: the emulator (impersonating login.microsoftonline.com and graph.microsoft.com)
 * and its SMTP sink live in the test process, so they outlive every kill of the service; mailbridge runs as a
 * separate process (`ServiceProcess`) on a real database (a SQLite file, or a PostgreSQL schema) with an API key
 * made by `mailbridge api-keys create`. Mailboxes are connected through the hosted connect flow.
 */

export const RETURN_URL_PREFIX = 'https://app.example.com/mailbridge';
export const SMTP_FROM = 'Acme Notifications <notifications@acme-mail.example>';
export const WEBHOOK_SECRET = `whsec-${randomBytes(24).toString('hex')}`;

export interface ApiAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: API answers are read field by field and checked with assert.
  body: any;
}

export interface AcceptanceWorldOptions {
  dialect: DbDialect;
  /** Deep-merged over the emulator's defaults (limits…). */
  emulatorSettings?: EmulatorOptions['settings'];
  /** Extra service environment (outbox pacing…). */
  env?: Record<string, string>;
  /** Start a webhook receiver and add it as the organisation's webhook endpoint (through the API). */
  webhooks?: boolean;
  /** The command of the service process the world starts (default `start`; `api` for a split deployment). */
  command?: 'start' | 'api';
  /** The emulator's clock (default: real time). */
  clock?: EmulatorClock;
  /** An admin API key without the world's own webhook receiver (the caller adds its endpoints). */
  adminKey?: boolean;
}

export interface ConnectOptions {
  ownerId: string;
  profile: 'send' | 'warmup';
}

export class AcceptanceWorld {
  readonly accountIds = new Map<string, string>();
  #sqliteDir: string | undefined;

  private constructor(
    readonly emulator: SeededEmulator,
    readonly sink: SmtpSink,
    readonly service: ServiceProcess,
    readonly apiKey: string,
    readonly databaseUrl: string,
    readonly dialect: DbDialect,
    readonly webhooks: WebhookReceiver | undefined,
    private readonly postgres: TestDatabase | undefined,
    sqliteDir: string | undefined,
  ) {
    this.#sqliteDir = sqliteDir;
  }

  get ctx(): EmulatorContext {
    return this.emulator.ctx;
  }

  static async start(options: AcceptanceWorldOptions): Promise<AcceptanceWorld> {
    const port = await freePort();
    const serviceUrl = `http://127.0.0.1:${port}`;
    const emulator = await startSeededEmulator({
      urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN },
      redirectUris: [`${serviceUrl}/connect/callback`, `${serviceUrl}/connect/admin-consent/callback`],
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.emulatorSettings ? { settings: options.emulatorSettings } : {}),
    });
    const sink = await startSmtpSink(emulator.ctx);
    const webhooks = options.webhooks ? await startWebhookReceiver({ secret: WEBHOOK_SECRET }) : undefined;

    let sqliteDir: string | undefined;
    let postgres: TestDatabase | undefined;
    let databaseUrl: string;
    if (options.dialect === 'sqlite') {
      sqliteDir = mkdtempSync(join(tmpdir(), 'mailbridge-acceptance-'));
      databaseUrl = `sqlite:${join(sqliteDir, 'mailbridge.db')}`;
    } else {
      // A fresh schema; the service migrates it itself at start, as in production.
      postgres = await openTestDatabase('postgres', { migrate: false });
      if (postgres.config.dialect !== 'postgres') throw new Error('expected a PostgreSQL test database');
      databaseUrl = postgres.config.url.reveal();
    }

    const env: Record<string, string> = {
      PORT: String(port),
      PUBLIC_URL: serviceUrl,
      DATABASE_URL: databaseUrl,
      MAILBRIDGE_DATA_DIR: sqliteDir ?? join(tmpdir(), 'mailbridge-acceptance-unused'),
      MAILBRIDGE_KEYS: `acceptance:${randomBytes(32).toString('base64')}`,
      MAILBRIDGE_ADMIN_EMAIL: 'operator@acme-mail.example',
      MAILBRIDGE_ADMIN_PASSWORD: `operator-${randomBytes(12).toString('hex')}`,
      MICROSOFT_CLIENT_ID: emulator.seed.app.clientId,
      MICROSOFT_CLIENT_SECRET: emulator.clientSecret,
      MICROSOFT_LOGIN_URL: emulator.url,
      MICROSOFT_GRAPH_URL: emulator.url,
      SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
      SMTP_FROM,
      LOG_LEVEL: 'warn',
      ...options.env,
    };
    // The API key through the operator's own command (it migrates the database and creates the organisation).
    const created = await runCliOrThrow(
      // An admin key when webhooks are wanted: it adds the organisation's webhook endpoint below.
      [
        'api-keys',
        'create',
        '--org',
        'Acme Recruiting',
        '--return-url',
        RETURN_URL_PREFIX,
        ...(webhooks || options.adminKey ? ['--admin'] : []),
      ],
      env,
    );
    const apiKey = created.stdout.trim();
    // assert.ok, not assert.match: a failure must not print the key itself.
    assert.ok(/^mb_live_[A-Za-z0-9_-]{43}$/.test(apiKey), 'api-keys create prints the key alone on stdout');

    const service = new ServiceProcess(env, port, options.command ?? 'start');
    await service.start();
    if (webhooks) {
      const endpoint = await fetch(`${service.url}/v1/webhook-endpoints`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: webhooks.url, secret: WEBHOOK_SECRET }),
      });
      assert.equal(endpoint.status, 201, 'the webhook endpoint is added');
    }
    return new AcceptanceWorld(
      emulator,
      sink,
      service,
      apiKey,
      databaseUrl,
      options.dialect,
      webhooks,
      postgres,
      sqliteDir,
    );
  }

  /** A request to the service's API with the organisation's key. Throws on network errors (service down). */
  async api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
    const init: RequestInit = {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, ...headers },
      signal: AbortSignal.timeout(30_000),
    };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const response = await fetch(`${this.service.url}${path}`, init);
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  /** Every message of the organisation, through `GET /v1/messages` (all pages). */
  // biome-ignore lint/suspicious/noExplicitAny: message views are checked field by field.
  async listMessages(query = ''): Promise<any[]> {
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    const out: any[] = [];
    let cursor: string | null = null;
    do {
      const params = new URLSearchParams(query);
      params.set('limit', '200');
      if (cursor) params.set('cursor', cursor);
      const page = await this.api('GET', `/v1/messages?${params}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      out.push(...page.body.data);
      cursor = page.body.nextCursor;
    } while (cursor);
    return out;
  }

  /** An emulated mailbox user with the demo password (work users in a seeded tenant, or a personal account). */
  createMailbox(email: string, displayName: string): User {
    return createUser(this.ctx, { email, password: DEMO_PASSWORD, displayName });
  }

  /**
   * Connects a mailbox the way a host product's user does: `POST /v1/connect-sessions`, the hosted session page,
   * the provider button, Microsoft's sign-in and consent (scripted at the emulator), our callback. Returns the
   * account id the outcome page hands back to the host.
   */
  async connect(email: string, options: ConnectOptions): Promise<string> {
    const created = await this.api('POST', '/v1/connect-sessions', {
      ownerId: options.ownerId,
      permissionProfile: options.profile,
      returnUrl: `${RETURN_URL_PREFIX}/done`,
      loginHint: email,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const browser = new Browser();
    const sessionPage = await browser.get(created.body.url);
    assert.equal(sessionPage.status, 200, pageText(sessionPage.html));
    const started = await browser.post(`${this.service.url}/connect/${created.body.id}/start`);
    assert.equal(started.status, 303, pageText(started.html));
    const authorizeUrl = started.location ?? '';
    assert.ok(authorizeUrl.startsWith(this.emulator.url), `sent to ${authorizeUrl}`);
    const callback = await new SignInDriver().signIn(authorizeUrl, { email, password: DEMO_PASSWORD });
    const outcome = await deliverCallback(browser, callback);
    const status = elementAttribute(outcome.html, 'outcome', 'data-status');
    assert.ok(
      status === 'connected' || status === 'reconnected',
      `connect outcome ${status}: ${pageText(outcome.html)}`,
    );
    const back = new URL(elementAttribute(outcome.html, 'continue', 'href') ?? '');
    const accountId = back.searchParams.get('account_id');
    assert.ok(accountId, 'the outcome page hands the account id back to the host');
    this.accountIds.set(email, accountId);
    return accountId;
  }

  /** A second connection to the service's database, for reading the attempt log (never for changing state). */
  async openDatabaseForReading(): Promise<DatabaseHandle> {
    if (this.dialect === 'sqlite')
      return openDatabase({ dialect: 'sqlite', path: this.databaseUrl.slice('sqlite:'.length) });
    return openDatabase({ dialect: 'postgres', url: new Secret(this.databaseUrl) }, { poolSize: 2 });
  }

  async close(): Promise<void> {
    await this.service.stop();
    await this.webhooks?.close();
    await this.sink.close();
    await this.emulator.close();
    await this.postgres?.close();
    if (this.#sqliteDir) rmSync(this.#sqliteDir, { recursive: true, force: true });
  }
}
