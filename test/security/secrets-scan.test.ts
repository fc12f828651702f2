import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { EmulatorClock } from '../../emulator/clock.js';
import { findAppOrThrow, updateApp } from '../../emulator/control/actions.js';
import { elementAttribute, pageText, SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { bindingCookieName } from '../../src/connect/connect-flow.js';
import { ensureFirstAdmin } from '../../src/dashboard-auth/first-admin.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../../src/microsoft/microsoft-routes.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import type { Clock } from '../../src/platform/clock.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { loadAccountTokens } from '../../src/vault/account-tokens.js';
import { startBackgroundWork } from '../../src/worker/background-work.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { type RecordingProxy, secretsInTraffic, startRecordingProxy } from './recording-proxy.js';
import { describeFindings, type Haystack, type KnownSecret, scanForSecrets } from './secret-scanner.js';

/**
 * "No token, code, secret, password or API key in logs, API responses, pages or the database file" (issue 3, Done
 * when). The real service on a SQLite file goes through a whole account life: API key, connect session, sign-in at
 * "Microsoft" (the emulator, behind a recording proxy), callback, API and dashboard reads, a token refresh, the
 * background worker (health check, webhooks), a disconnect. Every secret that crossed a wire or was made on the way
 * is collected: from the proxy's copy of the traffic with "Microsoft" (code, PKCE verifier, client secret, access,
 * refresh and ID tokens, the user's password), from the vault (the stored tokens, before and after the refresh),
 * and from the test's own hands (API key, webhook secret, vault key, dashboard password, cookies). Then everything
 * the service said or wrote is scanned for each of them in every usual encoding.
 */

const RETURN_URL = 'https://host.example/mailbridge/done';
const OWNER_ID = 'user-scan-1';

interface Recorded {
  name: string;
  content: string;
}

/** Our own origin's browser and API client: a cookie jar, manual redirects, and a copy of every answer. */
class RecordingClient {
  readonly cookies = new Map<string, string>();
  /** Every cookie value ever set, by name (sessions come and go). */
  readonly cookieHistory: Array<{ name: string; value: string }> = [];
  readonly answers: Recorded[] = [];

  constructor(readonly origin: string) {}

  async request(
    method: string,
    path: string,
    options: { form?: Record<string, string>; json?: unknown; bearer?: string } = {},
  ): Promise<{ status: number; text: string; location: string | null }> {
    const url = path.startsWith('http') ? path : `${this.origin}${path}`;
    const headers: Record<string, string> = {};
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (cookie) headers.cookie = cookie;
    if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    } else if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    for (const header of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = header.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      if (value === '' || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else {
        this.cookies.set(name, value);
        this.cookieHistory.push({ name, value });
      }
    }
    const text = await response.text();
    // Everything but Set-Cookie, whose whole point is to hand the browser its cookie secrets.
    const shownHeaders = [...response.headers].filter(([name]) => name !== 'set-cookie');
    this.answers.push({
      name: `${method} ${new URL(url).pathname} → ${response.status}`,
      content: `${JSON.stringify(shownHeaders)}\n${text}`,
    });
    return { status: response.status, text, location: response.headers.get('location') };
  }

  // biome-ignore lint/suspicious/noExplicitAny: API answers are read field by field and checked with assert.
  async api(method: string, path: string, key: string, json?: unknown): Promise<{ status: number; body: any }> {
    const answer = await this.request(method, path, { bearer: key, ...(json === undefined ? {} : { json }) });
    return { status: answer.status, body: answer.text === '' ? undefined : JSON.parse(answer.text) };
  }
}

describe('secrets scan: the whole account life on SQLite', () => {
  let emulator: SeededEmulator;
  let proxy: RecordingProxy;
  let receiver: WebhookReceiver;
  let service: TestService;
  const webhookSecret = randomBytes(32).toString('hex');
  /** Generated secrets of the organisation's webhook endpoints, which the receiver accepts too. */
  const endpointSecrets: string[] = [];
  const secrets: KnownSecret[] = [];
  const missing: string[] = [];
  let client: RecordingClient;

  before(async () => {
    emulator = await startSeededEmulator({
      clock: new EmulatorClock({ frozen: true }),
      urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN },
    });
    proxy = await startRecordingProxy(emulator.url);
    // The service's clock follows the emulator's, so advancing the emulator's moves both (as real clocks agree).
    const clock: Clock = { now: () => emulator.ctx.clock.now() };
    receiver = await startWebhookReceiver({
      secret: () => [webhookSecret, ...endpointSecrets],
      nowSeconds: () => Math.floor(clock.now() / 1000),
    });
    service = await startTestService({
      dialect: 'sqlite',
      clock,
      // The service reaches "Microsoft" only through the recording proxy.
      sharedEmulator: { ...emulator, url: proxy.url },
      env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: webhookSecret, LOG_LEVEL: 'trace' },
    });
    const app = findAppOrThrow(emulator.ctx, emulator.seed.app.clientId);
    updateApp(emulator.ctx, app, {
      redirectUris: [`${service.url}/connect/callback`, `${service.url}/connect/admin-consent/callback`],
    });
    client = new RecordingClient(service.url);
  });

  after(async () => {
    await service?.close();
    await receiver?.close();
    await proxy?.close();
    await emulator?.close();
  });

  test('leaves no secret in logs, API answers, pages, webhooks or the database file', async () => {
    const { deps } = service;

    // --- The operator: first dashboard admin (generated password, printed once by main), an API key. ---
    const admin = await ensureFirstAdmin(deps, { email: undefined, password: undefined });
    assert.equal(admin.kind, 'generated');
    const adminPassword = admin.kind === 'generated' ? admin.password : '';
    secrets.push({ name: 'dashboard admin password', value: adminPassword });
    const organization = await ensureDefaultOrganization(deps.db, deps.clock);
    const apiKey = await createApiKey(deps.db, deps.clock, organization.id, 'secrets scan');
    secrets.push({ name: 'API key', value: apiKey.key });
    const key = apiKey.key;

    // --- A webhook endpoint of the organisation, its secret generated. Made over HTTP but outside `client`, so its
    // answer (the one place the secret is shown, by design) is not a haystack; everything else is. ---
    const adminKey = await createApiKey(deps.db, deps.clock, organization.id, 'webhooks admin', { scope: 'admin' });
    secrets.push({ name: 'admin API key', value: adminKey.key });
    const endpoint = await fetch(`${service.url}/v1/webhook-endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url }),
    });
    assert.equal(endpoint.status, 201);
    const { secret: endpointSecret } = (await endpoint.json()) as { secret: string };
    endpointSecrets.push(endpointSecret);
    secrets.push({ name: 'webhook endpoint secret', value: endpointSecret });

    // --- The host app: allow the return URL, create a connect session. ---
    assert.equal(
      (await client.api('PATCH', '/v1/organization', key, { allowedReturnUrls: ['https://host.example/mailbridge'] }))
        .status,
      200,
    );
    const user = emulator.seed.users.personal;
    const session = await client.api('POST', '/v1/connect-sessions', key, {
      ownerId: OWNER_ID,
      returnUrl: RETURN_URL,
      loginHint: user.email,
    });
    assert.equal(session.status, 201, JSON.stringify(session.body));

    // --- The end user: provider choice → Microsoft (scripted sign-in through the proxy) → callback → outcome. ---
    const choice = await client.request('GET', session.body.url);
    assert.equal(choice.status, 200, `${choice.location} ${pageText(choice.text).slice(0, 300)}`);
    const start = await client.request('POST', `/connect/${session.body.id}/start`);
    assert.equal(start.status, 303, start.text);
    assert.ok(start.location?.startsWith(proxy.url), `sent to ${start.location}`);
    const callback = await new SignInDriver().signIn(start.location ?? '', {
      email: user.email,
      password: DEMO_PASSWORD,
    });
    const code = callback.params.get('code');
    assert.ok(code, 'the emulator answered with an authorization code');
    secrets.push({ name: 'authorization code (callback URL)', value: code });
    const binding = client.cookies.get(bindingCookieName(service.url, session.body.id));
    if (binding) secrets.push({ name: 'connect browser-binding cookie', value: binding });
    else missing.push('connect browser-binding cookie (not found under bindingCookieName())');
    const answered = await client.request('GET', `${callback.url}?${callback.params}`);
    assert.equal(answered.status, 303, 'connected: on to the session page, the code out of the address bar');
    const outcome = await client.request('GET', answered.location ?? '');
    assert.equal(elementAttribute(outcome.text, 'outcome', 'data-status'), 'connected', pageText(outcome.text));
    const back = new URL(elementAttribute(outcome.text, 'continue', 'href') ?? '');
    const accountId = back.searchParams.get('account_id') ?? '';
    assert.match(accountId, /^acc_/);

    // --- The host app reads what it may. ---
    for (const path of [
      '/v1/accounts',
      `/v1/accounts/${accountId}`,
      `/v1/owners/${OWNER_ID}`,
      '/v1/events',
      '/v1/webhook-deliveries',
      '/v1/openapi.json',
    ]) {
      assert.equal((await client.api('GET', path, key)).status, 200, path);
    }
    assert.equal(
      (await client.api('PUT', `/v1/owners/${OWNER_ID}/email-provider`, key, { provider: 'microsoft' })).status,
      200,
    );
    const firstTokens = await loadAccountTokens(deps.db, deps.vault, accountId);
    assert.ok(firstTokens?.accessToken);
    secrets.push({ name: 'access token #1 (vault)', value: firstTokens.accessToken.reveal() });
    secrets.push({ name: 'refresh token #1 (vault)', value: firstTokens.refreshToken.reveal() });

    // --- The operator's dashboard: sign in, accounts list, account page, settings. ---
    const signInToDashboard = async () => {
      const signInPage = await client.request('GET', '/dashboard/sign-in');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(signInPage.text)?.[1] ?? '';
      const signedIn = await client.request('POST', '/dashboard/sign-in', {
        form: { _csrf: csrf, email: admin.kind === 'generated' ? admin.email : '', password: adminPassword },
      });
      assert.equal(signedIn.status, 303, pageText(signedIn.text));
    };
    const readDashboard = async () => {
      for (const path of ['/dashboard', `/dashboard/accounts/${accountId}`, '/dashboard/settings/communication']) {
        const page = await client.request('GET', path);
        assert.equal(page.status, 200, `${path}: ${page.location} ${pageText(page.text).slice(0, 200)}`);
      }
    };
    await signInToDashboard();
    await readDashboard();
    assert.ok(
      client.answers.some((a) => a.name.startsWith('GET /dashboard →') && a.content.includes(user.email)),
      'the dashboard lists the connected mailbox',
    );

    // --- Two hours later: the access token has expired; the provider refreshes (the refresh token rotates). ---
    emulator.ctx.clock.advance(2 * 3600);
    const refreshed = await new AccessTokenProvider(deps).getAccessToken(accountId);
    assert.notEqual(refreshed.token.reveal(), firstTokens.accessToken.reveal(), 'a new access token');
    const secondTokens = await loadAccountTokens(deps.db, deps.vault, accountId);
    assert.ok(secondTokens?.accessToken);
    secrets.push({ name: 'access token #2 (vault)', value: secondTokens.accessToken.reveal() });
    secrets.push({ name: 'refresh token #2 (vault)', value: secondTokens.refreshToken.reveal() });

    // --- A week later, the background worker: keep-alive refresh, health check (GET /me), webhooks. ---
    emulator.ctx.clock.advance(7 * 86_400);
    const work = startBackgroundWork(deps, { autoStart: false });
    await work.runOnce();
    const thirdTokens = await loadAccountTokens(deps.db, deps.vault, accountId);
    assert.ok(thirdTokens?.accessToken);
    secrets.push({ name: 'access token #3 (vault)', value: thirdTokens.accessToken.reveal() });
    secrets.push({ name: 'refresh token #3 (vault)', value: thirdTokens.refreshToken.reveal() });
    // The dashboard session from a week ago has expired: sign in again and look at the account.
    await signInToDashboard();
    await readDashboard();

    // --- Disconnect, then the worker delivers what is left. ---
    const disconnected = await client.api('DELETE', `/v1/accounts/${accountId}`, key);
    assert.equal(disconnected.status, 200);
    assert.equal(disconnected.body.status, 'disconnected');
    await client.api('GET', `/v1/events?accountId=${accountId}`, key);
    await work.runOnce();
    await work.stop();
    await client.api('GET', '/v1/webhook-deliveries', key);
    const delivered = receiver.accepted.map((d) => d.event?.type);
    assert.ok(delivered.includes('account.connected'), `webhooks: ${delivered.join(', ')}`);
    assert.ok(delivered.includes('account.disconnected'), `webhooks: ${delivered.join(', ')}`);
    assert.equal(receiver.rejected.length, 0);
    // Each event went to both endpoints (WEBHOOK_URL and the organisation's own), each signed with its secret.
    assert.ok(
      receiver.accepted.some((d) => d.duplicate),
      'the second endpoint got the same events',
    );

    // --- Collect the remaining secrets. ---
    const secretCookies = client.cookieHistory.filter(
      (c) => c.name === 'mailbridge_session' || c.name === 'mailbridge_signin' || c.name.startsWith('mb_connect_'),
    );
    for (const cookie of secretCookies) secrets.push({ name: `cookie ${cookie.name}`, value: cookie.value });
    assert.ok(
      secretCookies.some((c) => c.name === 'mailbridge_session'),
      `the dashboard session cookie was seen (cookies: ${[...new Set(client.cookieHistory.map((c) => c.name))].join(', ')})`,
    );
    secrets.push({ name: 'client secret', value: emulator.clientSecret });
    secrets.push({ name: 'webhook secret', value: webhookSecret });
    secrets.push({ name: 'user password at Microsoft', value: DEMO_PASSWORD });
    for (const entry of service.keyText.split(',')) {
      const material = entry.slice(entry.indexOf(':') + 1);
      secrets.push({ name: 'vault key (base64)', value: material });
      secrets.push({ name: 'vault key (bytes)', value: Buffer.from(material, 'base64') });
    }
    const wire = secretsInTraffic(proxy.exchanges);
    for (const { name, value } of wire) secrets.push({ name: `${name} [wire]`, value });
    const wireNames = wire.map((s) => s.name).join('\n');
    for (const expected of [
      /^code \(sent to .*\/token\)/m,
      /^code_verifier/m,
      /^client_secret/m,
      /^refresh_token \(sent to/m,
      /^access_token \(issued\)/m,
      /^refresh_token \(issued\)/m,
      /^id_token \(issued\)/m,
      /^access_token \(Authorization header\)/m,
      /^passwd/m,
    ]) {
      assert.match(wireNames, expected, 'the proxy saw this secret cross the wire, so the scan looks for it');
    }
    assert.ok(
      wire.some((s) => s.value === secondTokens.refreshToken.reveal()),
      'the vault holds what Microsoft issued',
    );

    // --- Everything the service said or wrote. ---
    const dbPath = service.database.config.dialect === 'sqlite' ? service.database.config.path : '';
    const haystacks: Haystack[] = [
      { name: 'service log', content: service.logLines.join('') },
      ...client.answers,
      ...receiver.requests.map((r, i) => ({
        name: `webhook #${i + 1}`,
        content: `${JSON.stringify(r.headers)}\n${r.body}`,
      })),
    ];
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      if (existsSync(`${dbPath}${suffix}`)) {
        haystacks.push({ name: `database file ${suffix || '(main)'}`, content: readFileSync(`${dbPath}${suffix}`) });
      }
    }
    assert.ok(haystacks.some((h) => h.name === 'database file (main)'));
    // The files hold the data in the clear where it is not secret: the scan reads real content, not noise.
    const databaseBytes = Buffer.concat(
      haystacks.filter((h) => h.name.startsWith('database')).map((h) => Buffer.from(h.content)),
    );
    assert.ok(databaseBytes.includes(Buffer.from(user.email)), 'the mailbox address is in the database file');
    assert.ok(service.logLines.length > 20, `the log has ${service.logLines.length} lines`);

    const findings = scanForSecrets(haystacks, secrets);
    assert.equal(findings.length, 0, `secrets found:\n${describeFindings(findings)}`);
    assert.deepEqual(missing, [], 'every secret the scan meant to look for was collected');

    // The same scan on the same haystacks finds a secret planted in one of them.
    const planted = scanForSecrets(
      [...haystacks, { name: 'planted log line', content: `${service.logLines.at(-1)}{"leak":"${apiKey.key}"}` }],
      secrets,
    );
    assert.deepEqual(
      planted.map((f) => [f.haystack, f.secret]),
      [['planted log line', 'API key']],
    );
  });
});
