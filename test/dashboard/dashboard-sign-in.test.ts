import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { Secret } from '../../src/config/secret.js';
import { SESSION_IDLE_MS, SESSION_MAX_MS } from '../../src/dashboard-auth/dashboard-sessions.js';
import { ensureFirstAdmin, GENERATED_ADMIN_EMAIL } from '../../src/dashboard-auth/first-admin.js';
import { SIGN_IN_FAILURE_LIMIT, SIGN_IN_LOCK_MS } from '../../src/dashboard-auth/sign-in-throttle.js';
import { ManualClock } from '../../src/platform/clock.js';
import { SIGN_IN_RATE_LIMIT } from '../../src/web/dashboard/sign-in-routes.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, DashboardClient, seedAdmin } from './dashboard-client.js';

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

function setCookieHeaders(response: { headers: Record<string, unknown> }): string[] {
  const header = response.headers['set-cookie'];
  return Array.isArray(header) ? header.map(String) : header === undefined ? [] : [String(header)];
}

function errorText(body: string): string | undefined {
  return /id="sign-in-error"[^>]*>([^<]*)</.exec(body)?.[1];
}

for (const dialect of TEST_DIALECTS) {
  describe(`dashboard sign-in [${dialect}]`, () => {
    let service: TestService;
    let clock: ManualClock;
    /** Apps built for one test each: the per-IP rate limiter's memory starts empty in each. */
    const extraApps: FastifyInstance[] = [];
    const freshClient = async () => {
      const app = await buildApp(service.deps);
      extraApps.push(app);
      return new DashboardClient(app);
    };

    before(async () => {
      clock = new ManualClock();
      service = await startTestService({ dialect, clock });
      await seedAdmin(service.deps);
    });
    after(async () => {
      for (const app of extraApps) await app.close();
      await service?.close();
    });

    it('sends a signed-out visitor to sign-in, then back to the page asked for, with a hardened session cookie', async () => {
      const client = await freshClient();
      const first = await client.get('/dashboard/settings/communication');
      assert.equal(first.statusCode, 303);
      assert.equal(first.headers.location, '/dashboard/sign-in?next=%2Fdashboard%2Fsettings%2Fcommunication');

      const form = await client.get(first.headers.location as string);
      assert.equal(form.statusCode, 200);
      assert.match(form.body, /name="next" value="\/dashboard\/settings\/communication"/);
      const signedIn = await client.post('/dashboard/sign-in', {
        email: ADMIN_EMAIL.toUpperCase(),
        password: ADMIN_PASSWORD,
        next: '/dashboard/settings/communication',
      });
      assert.equal(signedIn.statusCode, 303);
      assert.equal(signedIn.headers.location, '/dashboard/settings/communication');

      const sessionCookie = setCookieHeaders(signedIn).find((cookie) => cookie.startsWith('mailbridge_session='));
      assert.ok(sessionCookie, 'a session cookie is set');
      assert.match(sessionCookie, /; HttpOnly/);
      assert.match(sessionCookie, /; SameSite=Lax/);
      assert.match(sessionCookie, /; Path=\//);
      assert.doesNotMatch(sessionCookie, /; Secure/, 'no Secure flag over plain http (PUBLIC_URL is http)');

      const token = client.cookies.get('mailbridge_session');
      assert.ok(token);
      const rows = await service.deps.db.selectFrom('dashboard_sessions').selectAll().execute();
      assert.ok(
        rows.some((row) => row.id_hash === sha256(token)),
        'the session is stored as its hash',
      );
      assert.ok(!rows.some((row) => row.id_hash === token), 'never the cookie value itself');

      const page = await client.get('/dashboard');
      assert.equal(page.statusCode, 200);
      assert.match(page.body, new RegExp(`id="signed-in-as">${ADMIN_EMAIL}<`));
      assert.match(page.body, /id="nav-accounts"/);
      assert.match(page.body, /id="nav-settings"/);
      assert.match(page.body, /id="sign-out"/);
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
    });

    it('answers a wrong password and an unknown address alike, with one generic message and no session', async () => {
      const client = await freshClient();
      const wrongPassword = await client.signIn(ADMIN_EMAIL, 'not the password at all');
      const unknownUser = await client.signIn('nobody@example.com', ADMIN_PASSWORD);
      for (const answer of [wrongPassword, unknownUser]) {
        assert.equal(answer.statusCode, 401);
        assert.equal(errorText(answer.body), 'Wrong email or password.');
        assert.ok(!setCookieHeaders(answer).some((cookie) => cookie.startsWith('mailbridge_session=')));
      }
      assert.equal(client.cookies.has('mailbridge_session'), false);
      assert.equal((await client.get('/dashboard')).statusCode, 303);
    });

    it(`locks an address after ${SIGN_IN_FAILURE_LIMIT} failures (even the right password, unknown addresses alike) until the lock ends`, async () => {
      await ensureFirstAdmin(service.deps, { email: 'lock@example.com', password: new Secret(ADMIN_PASSWORD) });
      const known = await freshClient();
      for (let i = 0; i < SIGN_IN_FAILURE_LIMIT; i++) {
        assert.equal((await known.signIn('lock@example.com', `wrong-${i}`)).statusCode, 401);
      }
      const refused = await known.signIn('lock@example.com', ADMIN_PASSWORD);
      assert.equal(refused.statusCode, 429);
      assert.match(errorText(refused.body) ?? '', /Too many failed sign-ins for this address/);
      assert.equal(known.cookies.has('mailbridge_session'), false);

      const unknown = await freshClient();
      for (let i = 0; i < SIGN_IN_FAILURE_LIMIT; i++) {
        assert.equal((await unknown.signIn('ghost@example.com', `wrong-${i}`)).statusCode, 401);
      }
      const ghost = await unknown.signIn('ghost@example.com', 'anything');
      assert.equal(ghost.statusCode, 429);
      assert.equal(errorText(ghost.body), errorText(refused.body), 'a lock-out says nothing about who exists');

      // Other addresses are not affected.
      assert.equal((await unknown.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).statusCode, 303);

      clock.advance(SIGN_IN_LOCK_MS + 1000);
      const later = await freshClient();
      const again = await later.signIn('lock@example.com', ADMIN_PASSWORD);
      assert.equal(again.statusCode, 303);
      assert.ok(later.cookies.has('mailbridge_session'));
    });

    it('a stranger’s failures lock strangers out, not the user’s own browser (known-device cookie), across processes', async () => {
      const email = 'dos@example.com';
      await ensureFirstAdmin(service.deps, { email, password: new Secret(ADMIN_PASSWORD) });
      // The admin signs in once from their browser, which becomes known, and signs out.
      const adminBrowser = await freshClient();
      const first = await adminBrowser.signIn(email, ADMIN_PASSWORD);
      assert.equal(first.statusCode, 303);
      const deviceCookie = setCookieHeaders(first).find((cookie) => cookie.startsWith('mailbridge_device='));
      assert.ok(deviceCookie, 'a known-device cookie is set');
      assert.match(deviceCookie, /; HttpOnly/);
      assert.match(deviceCookie, /; SameSite=Lax/);
      assert.match(deviceCookie, /; Max-Age=7776000/);
      const firstDevice = adminBrowser.cookies.get('mailbridge_device') ?? '';
      const devices = await service.deps.db.selectFrom('dashboard_known_devices').selectAll().execute();
      assert.ok(
        devices.some((row) => row.id_hash === sha256(firstDevice)),
        'stored as its hash',
      );
      assert.ok(!devices.some((row) => row.id_hash === firstDevice), 'never the cookie value itself');
      assert.equal((await adminBrowser.post('/dashboard/sign-out', {})).statusCode, 303);
      assert.equal(adminBrowser.cookies.has('mailbridge_device'), true, 'sign-out keeps the browser known');

      // A stranger (another process: its own per-IP memory) fails twice the limit (all within the per-IP limit), then
      // tries the right password.
      const attacker = await freshClient();
      for (let i = 0; i < SIGN_IN_FAILURE_LIMIT * 2; i++) {
        const answer = await attacker.signIn(email, `guess-${i}`);
        assert.equal(answer.statusCode, i < SIGN_IN_FAILURE_LIMIT ? 401 : 429, `attempt ${i + 1}`);
      }
      const attackerRight = await (await freshClient()).signIn(email, ADMIN_PASSWORD);
      assert.equal(attackerRight.statusCode, 429, 'an unknown browser stays locked out, even with the right password');
      assert.match(errorText(attackerRight.body) ?? '', /Too many failed sign-ins for this address/);
      const lock = await service.deps.db
        .selectFrom('dashboard_sign_in_failures')
        .select('locked_until')
        .where('email_key', '=', sha256(email))
        .executeTakeFirstOrThrow();
      assert.ok(Number(lock.locked_until) > clock.now(), 'the lock-out is in the database, for every process');

      // The admin, from their known browser and through yet another process, gets in at once.
      const known = new DashboardClient((await freshClient()).app);
      known.cookies.set('mailbridge_device', firstDevice);
      const admin = await known.signIn(email, ADMIN_PASSWORD);
      assert.equal(admin.statusCode, 303, 'the known browser is not locked out');
      assert.ok(known.cookies.has('mailbridge_session'));
      const rotated = known.cookies.get('mailbridge_device') ?? '';
      assert.ok(rotated !== '' && rotated !== firstDevice, 'each sign-in replaces the device cookie');
      assert.equal((await known.get('/dashboard')).statusCode, 200);

      // The replaced value is an unknown browser again: locked out like the stranger.
      const copied = new DashboardClient((await freshClient()).app);
      copied.cookies.set('mailbridge_device', firstDevice);
      assert.equal((await copied.signIn(email, ADMIN_PASSWORD)).statusCode, 429);
      // The address's lock-out still holds strangers after the admin's sign-in.
      assert.equal((await (await freshClient()).signIn(email, ADMIN_PASSWORD)).statusCode, 429);

      // A known device has its own counter: guessing from it (a stolen cookie) is throttled too.
      const guesser = new DashboardClient((await freshClient()).app);
      guesser.cookies.set('mailbridge_device', rotated);
      for (let i = 0; i < SIGN_IN_FAILURE_LIMIT; i++) {
        assert.equal((await guesser.signIn(email, `device-guess-${i}`)).statusCode, 401);
      }
      assert.equal((await guesser.signIn(email, ADMIN_PASSWORD)).statusCode, 429, 'the device is locked now');
      clock.advance(SIGN_IN_LOCK_MS + 1000);
      assert.equal((await guesser.signIn(email, ADMIN_PASSWORD)).statusCode, 303, 'until its lock ends');
    });

    it(`rate-limits sign-in POSTs to ${SIGN_IN_RATE_LIMIT.max} a minute per client IP, and only sign-in`, async () => {
      const client = await freshClient();
      await client.get('/dashboard/sign-in');
      for (let i = 0; i < SIGN_IN_RATE_LIMIT.max; i++) {
        // Refused for their token (cheap), but every one counts.
        const answer = await client.post('/dashboard/sign-in', { email: ADMIN_EMAIL, password: 'x', _csrf: 'forged' });
        assert.equal(answer.statusCode, 403);
      }
      const limited = await client.post('/dashboard/sign-in', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
      assert.equal(limited.statusCode, 429);
      assert.match(String(limited.headers['content-type']), /text\/html/);
      assert.match(errorText(limited.body) ?? '', /Too many sign-in attempts/);
      assert.equal(client.cookies.has('mailbridge_session'), false, 'the right password did not get through');
      assert.equal((await client.get('/dashboard/sign-in')).statusCode, 200, 'the form itself is not limited');
      assert.equal((await client.get('/healthz')).statusCode, 200);
    });

    it('refuses state-changing forms without the session-bound token (CSRF), changing nothing', async () => {
      const client = await freshClient();
      assert.equal((await client.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).statusCode, 303);
      const other = await freshClient();
      assert.equal((await other.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).statusCode, 303);
      assert.ok(client.csrf && other.csrf && client.csrf !== other.csrf, 'each session has its own token');

      for (const token of [null, '', 'forged', other.csrf]) {
        const answer = await client.post('/dashboard/settings/communication', { provider: 'default', _csrf: token });
        assert.equal(answer.statusCode, 403, `token ${String(token)}`);
        assert.match(answer.body, /This form has expired/);
      }
      const newAccount = await client.post('/dashboard/accounts/new', {
        provider: 'microsoft',
        profile: 'send',
        _csrf: null,
      });
      assert.equal(newAccount.statusCode, 403);
      const signOut = await client.post('/dashboard/sign-out', { _csrf: null });
      assert.equal(signOut.statusCode, 403);
      assert.equal((await client.get('/dashboard')).statusCode, 200, 'still signed in');
      const sessions = await service.deps.db.selectFrom('connect_sessions').select('id').execute();
      assert.equal(sessions.length, 0, 'no connect session was created');

      // The sign-in form is bound to its pre-session cookie (no login CSRF).
      const stranger = await freshClient();
      const forged = await stranger.post('/dashboard/sign-in', {
        email: ADMIN_EMAIL,
        password: ADMIN_PASSWORD,
        _csrf: client.csrf ?? 'x',
      });
      assert.equal(forged.statusCode, 403);
      assert.equal(stranger.cookies.has('mailbridge_session'), false);
    });

    it('ends a session after 2 idle hours and 12 hours after sign-in, and at sign-out', async () => {
      const idle = await freshClient();
      await idle.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
      const idleHash = sha256(idle.cookies.get('mailbridge_session') ?? '');
      clock.advance(SESSION_IDLE_MS - 60_000);
      assert.equal((await idle.get('/dashboard')).statusCode, 200, 'used just before the idle limit');
      clock.advance(SESSION_IDLE_MS - 60_000);
      assert.equal((await idle.get('/dashboard')).statusCode, 200, 'each use slides the idle limit');
      clock.advance(SESSION_IDLE_MS + 1000);
      const expired = await idle.get('/dashboard');
      assert.equal(expired.statusCode, 303);
      assert.equal(expired.headers.location, '/dashboard/sign-in?next=%2Fdashboard&expired=1');
      const row = await service.deps.db
        .selectFrom('dashboard_sessions')
        .select('id_hash')
        .where('id_hash', '=', idleHash)
        .executeTakeFirst();
      assert.equal(row, undefined, 'the expired session is deleted');
      assert.match((await idle.get(expired.headers.location as string)).body, /Your session ended/);

      const busy = await freshClient();
      await busy.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
      let elapsed = 0;
      while (elapsed + 60 * 60_000 < SESSION_MAX_MS) {
        clock.advance(60 * 60_000);
        elapsed += 60 * 60_000;
        assert.equal((await busy.get('/dashboard')).statusCode, 200, `after ${elapsed / 3_600_000} h`);
      }
      clock.advance(SESSION_MAX_MS - elapsed + 1000);
      assert.equal((await busy.get('/dashboard')).statusCode, 303, 'the absolute limit holds however busy');

      const leaving = await freshClient();
      await leaving.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
      const cookie = leaving.cookies.get('mailbridge_session') ?? '';
      const out = await leaving.post('/dashboard/sign-out', {});
      assert.equal(out.statusCode, 303);
      assert.equal(out.headers.location, '/dashboard/sign-in?signed_out=1');
      const replay = new DashboardClient(leaving.app);
      replay.cookies.set('mailbridge_session', cookie);
      assert.equal((await replay.get('/dashboard')).statusCode, 303, 'the old cookie is worthless');
    });

    it('goes only to dashboard paths after sign-in (no open redirect)', async () => {
      for (const next of ['//evil.example/dashboard', 'https://evil.example/', '/dashboard\\@evil.example', '/other']) {
        const client = await freshClient();
        await client.get('/dashboard/sign-in');
        const answer = await client.post('/dashboard/sign-in', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, next });
        assert.equal(answer.statusCode, 303);
        assert.equal(answer.headers.location, '/dashboard', next);
      }
    });

    it('stores passwords as scrypt hashes with a per-user salt', async () => {
      await ensureFirstAdmin(service.deps, { email: 'salt@example.com', password: new Secret(ADMIN_PASSWORD) });
      const rows = await service.deps.db
        .selectFrom('dashboard_users')
        .select(['email', 'password_hash'])
        .where('email', 'in', [ADMIN_EMAIL, 'salt@example.com'])
        .execute();
      assert.equal(rows.length, 2);
      for (const row of rows) {
        assert.match(row.password_hash, /^scrypt\$32768\$8\$3\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
        assert.ok(!row.password_hash.includes(ADMIN_PASSWORD));
      }
      assert.notEqual(rows[0]?.password_hash, rows[1]?.password_hash, 'same password, different salt and hash');
    });
  });
}

describe('dashboard first admin and https cookies', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ env: { PUBLIC_URL: 'https://mail.example.com' } });
  });
  after(() => service?.close());

  it('generates the first admin once when none is configured, and never logs its password', async () => {
    const first = await ensureFirstAdmin(service.deps, { email: undefined, password: undefined });
    assert.equal(first.kind, 'generated');
    if (first.kind !== 'generated') return;
    assert.equal(first.email, GENERATED_ADMIN_EMAIL);
    assert.ok(first.password.length >= 24);
    const second = await ensureFirstAdmin(service.deps, { email: undefined, password: undefined });
    assert.equal(second.kind, 'existing', 'printed once: a second start generates nothing');

    const client = new DashboardClient(service.app);
    const answer = await client.signIn(GENERATED_ADMIN_EMAIL, first.password);
    assert.equal(answer.statusCode, 303);
    assert.ok(!service.logLines.join('\n').includes(first.password), 'the password is not in the log');
  });

  it('sets the configured admin password, and a changed one replaces it at the next start', async () => {
    const seeded = await ensureFirstAdmin(service.deps, {
      email: 'owner@example.com',
      password: new Secret('first password 123'),
    });
    assert.deepEqual(seeded, { kind: 'configured', email: 'owner@example.com', created: true, passwordUpdated: false });
    const changed = await ensureFirstAdmin(service.deps, {
      email: 'owner@example.com',
      password: new Secret('second password 456'),
    });
    assert.equal(changed.kind === 'configured' && changed.passwordUpdated, true);
    const client = new DashboardClient(service.app);
    assert.equal((await client.signIn('owner@example.com', 'first password 123')).statusCode, 401);
    assert.equal((await client.signIn('owner@example.com', 'second password 456')).statusCode, 303);
  });

  it('uses __Host- cookies with Secure when PUBLIC_URL is https', async () => {
    const client = new DashboardClient(service.app);
    const form = await client.get('/dashboard/sign-in');
    const preSession = setCookieHeaders(form).find((cookie) => cookie.startsWith('__Host-mailbridge_signin='));
    assert.ok(preSession);
    assert.match(preSession, /; Secure/);
    const answer = await client.post('/dashboard/sign-in', {
      email: 'owner@example.com',
      password: 'second password 456',
    });
    assert.equal(answer.statusCode, 303);
    const session = setCookieHeaders(answer).find((cookie) => cookie.startsWith('__Host-mailbridge_session='));
    assert.ok(session);
    assert.match(session, /; Secure/);
    assert.match(session, /; HttpOnly/);
    assert.match(session, /; SameSite=Lax/);
    assert.match(session, /; Path=\//);
    assert.doesNotMatch(session, /; Domain=/i);
  });
});
