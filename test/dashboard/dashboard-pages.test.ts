import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dashboardOwnerExternalId } from '../../src/dashboard-auth/dashboard-users.js';
import { createOrganization, ensureDefaultOrganization, getOrganization } from '../../src/orgs/organizations.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { seedConnectedAccount } from './account-fixtures.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, DashboardClient, seedAdmin } from './dashboard-client.js';

function text(html: string, id: string): string | undefined {
  const match = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</`).exec(html);
  return match?.[1]?.replace(/<[^>]+>/g, '').trim();
}

function listItems(html: string, listId: string): string[] {
  const list = new RegExp(`<ul[^>]*id="${listId}"[^>]*>([\\s\\S]*?)</ul>`).exec(html)?.[1] ?? '';
  return [...list.matchAll(/<li[^>]*>([\s\S]*?)<\/li>/g)].map((match) =>
    (match[1] ?? '').replace(/<[^>]+>/g, '').trim(),
  );
}

for (const dialect of TEST_DIALECTS) {
  describe(`dashboard pages [${dialect}]`, () => {
    let service: TestService;
    let client: DashboardClient;
    let organizationId: string;
    let ownerExternalId: string;

    before(async () => {
      service = await startTestService({ dialect });
      await seedAdmin(service.deps);
      organizationId = (await ensureDefaultOrganization(service.deps.db, service.deps.clock)).id;
      const user = await service.deps.db
        .selectFrom('dashboard_users')
        .select('id')
        .where('email', '=', ADMIN_EMAIL)
        .executeTakeFirstOrThrow();
      ownerExternalId = dashboardOwnerExternalId(user.id);
      client = new DashboardClient(service.app);
      assert.equal((await client.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).statusCode, 303);
    });
    after(() => service?.close());

    it('offers Personal Outlook only once a Microsoft account is connected, then saves it', async () => {
      const before = await client.get('/dashboard/settings/communication');
      assert.equal(before.statusCode, 200);
      assert.match(before.body, /id="provider-personal-outlook" disabled/);
      assert.match(text(before.body, 'personal-outlook-unavailable') ?? '', /once a Microsoft account is connected/);
      assert.match(before.body, /id="provider-default" checked/);
      assert.match(before.body, /id="channel-email" checked/);

      const refused = await client.post('/dashboard/settings/communication', {
        channel: 'email',
        provider: 'microsoft',
      });
      assert.equal(refused.statusCode, 409);
      assert.match(refused.body, /Personal Outlook needs a connected Microsoft account/);

      await seedConnectedAccount(service.deps, { organizationId, ownerExternalId, email: 'sam@outlook.com' });
      const enabled = await client.get('/dashboard/settings/communication');
      assert.doesNotMatch(enabled.body, /id="provider-personal-outlook"[^>]*disabled/);
      assert.match(enabled.body, /sam@outlook\.com/);

      const saved = await client.post('/dashboard/settings/communication', { channel: 'email', provider: 'microsoft' });
      assert.equal(saved.statusCode, 303);
      assert.equal(saved.headers.location, '/dashboard/settings/communication?saved=1');
      const owner = await service.deps.db
        .selectFrom('owners')
        .select('email_provider')
        .where('organization_id', '=', organizationId)
        .where('external_id', '=', ownerExternalId)
        .executeTakeFirstOrThrow();
      assert.equal(owner.email_provider, 'microsoft');
      const after = await client.get(saved.headers.location as string);
      assert.match(after.body, /id="provider-personal-outlook" checked/);
      assert.match(text(after.body, 'settings-notice') ?? '', /Saved/);
    });

    it('lists the organisation’s accounts with status badges, and shows an account in plain words', async () => {
      const warm = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId,
        email: 'robin@contoso.com',
        tenantId: '11111111-2222-3333-4444-555555555555',
        profile: 'warmup',
        scopes: ['User.Read', 'Mail.Send', 'Mail.ReadWrite', 'MailboxSettings.ReadWrite', 'openid', 'profile', 'email'],
      });
      const broken = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId: 'host-user-7',
        email: 'kim@outlook.com',
        status: {
          status: 'reconnect_required',
          reason: 'password_changed',
          evidence: { source: 'token', errorCodes: [50173], error: 'invalid_grant', requestSent: 'yes' },
        },
      });

      const list = await client.get('/dashboard');
      assert.equal(list.statusCode, 200);
      const row = (id: string) =>
        new RegExp(`<tr data-account-id="${id}">([\\s\\S]*?)</tr>`).exec(list.body)?.[1] ?? '';
      assert.match(row(warm.id), /robin@contoso\.com/);
      assert.match(row(warm.id), /class="badge connected"[^>]*>Connected</);
      assert.match(row(warm.id), /<td>You<\/td>/);
      assert.match(row(broken.id), /class="badge reconnect_required"[^>]*>Reconnect required</);
      assert.match(row(broken.id), /host-user-7/);

      const page = await client.get(`/dashboard/accounts/${warm.id}`);
      assert.equal(page.statusCode, 200);
      assert.equal(text(page.body, 'account-email'), 'robin@contoso.com');
      assert.deepEqual(listItems(page.body, 'permissions'), [
        'Send mail as you',
        'Read and write access to your mail',
        'Read and write to your mailbox settings',
        'Sign you in and read your profile',
        'Maintain access to data you have given it access to',
        'Sign you in',
        'View your basic profile',
        'View your email address',
      ]);
      assert.match(text(page.body, 'expires-if-unused') ?? '', /\d{4}/);
      assert.match(page.body, /keep-alive/);
      assert.match(text(page.body, 'last-refresh') ?? '', /UTC/);
      assert.match(listItems(page.body, 'timeline')[0] ?? '', /Connected as robin@contoso\.com/);
      assert.doesNotMatch(page.body, /id="reconnect"/, 'nothing to reconnect');
      assert.match(page.body, /href="\/dashboard\/accounts\/[^"]+\/disconnect" id="disconnect"/);

      const brokenPage = await client.get(`/dashboard/accounts/${broken.id}`);
      assert.match(brokenPage.body, /class="badge reconnect_required"/);
      assert.match(text(brokenPage.body, 'what-to-do') ?? '', /password/i);
      assert.equal(text(brokenPage.body, 'status-reason'), 'password_changed');
      assert.match(brokenPage.body, /<details id="operator-details">/);
      assert.match(brokenPage.body, /AADSTS 50173/);
      assert.match(brokenPage.body, /id="reconnect"/);
    });

    it('never renders a token, a ciphertext, the session cookie or the password', async () => {
      const account = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId,
        email: 'lee@outlook.com',
      });
      const sealed = await service.deps.db
        .selectFrom('account_tokens')
        .select(['access_token', 'refresh_token'])
        .where('account_id', '=', account.id)
        .executeTakeFirstOrThrow();
      const secrets = [
        account.accessToken,
        account.refreshToken,
        sealed.access_token ?? 'x'.repeat(40),
        sealed.refresh_token,
        client.cookies.get('mailbridge_session') ?? 'x'.repeat(40),
        ADMIN_PASSWORD,
      ];
      const pages = [
        '/dashboard',
        `/dashboard/accounts/${account.id}`,
        `/dashboard/accounts/${account.id}/disconnect`,
        '/dashboard/accounts/new',
        '/dashboard/settings/communication',
      ];
      for (const path of pages) {
        const page = await client.get(path);
        assert.equal(page.statusCode, 200, path);
        for (const secret of secrets) {
          assert.ok(!page.body.includes(secret), `${path} renders a secret`);
          // Also a recognisable piece of it (a page might cut or wrap one).
          assert.ok(!page.body.includes(secret.slice(4, 24)), `${path} renders part of a secret`);
        }
      }
      const log = service.logLines.join('\n');
      for (const secret of secrets) assert.ok(!log.includes(secret), 'the log holds a secret');
    });

    it('answers another organisation’s account id with 404 and leaves it alone', async () => {
      const other = await createOrganization(service.deps.db, service.deps.clock, { name: 'Another tenant' });
      const foreign = await seedConnectedAccount(service.deps, {
        organizationId: other.id,
        ownerExternalId: 'their-user',
        email: 'foreign@outlook.com',
      });
      const probes = [
        await client.get(`/dashboard/accounts/${foreign.id}`),
        await client.get(`/dashboard/accounts/${foreign.id}/disconnect`),
        await client.post(`/dashboard/accounts/${foreign.id}/disconnect`, {}),
        await client.post(`/dashboard/accounts/${foreign.id}/reconnect`, {}),
      ];
      for (const probe of probes) {
        assert.equal(probe.statusCode, 404);
        assert.match(String(probe.headers['content-type']), /text\/html/);
        assert.doesNotMatch(probe.body, /foreign@outlook\.com/);
      }
      const unknown = await client.get('/dashboard/accounts/acc_01nothinghere0000000000000');
      assert.equal(unknown.statusCode, 404);
      assert.equal(
        text(unknown.body, 'message'),
        text(probes[0]?.body ?? '', 'message')?.replace(foreign.id, 'acc_01nothinghere0000000000000'),
        'an id elsewhere reads like an id nowhere',
      );

      const list = await client.get('/dashboard');
      assert.doesNotMatch(list.body, /foreign@outlook\.com/);
      const row = await service.deps.db
        .selectFrom('accounts')
        .select('status')
        .where('id', '=', foreign.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'connected');
      const tokens = await service.deps.db
        .selectFrom('account_tokens')
        .select('account_id')
        .where('account_id', '=', foreign.id)
        .execute();
      assert.equal(tokens.length, 1);
      const sessions = await service.deps.db
        .selectFrom('connect_sessions')
        .select('id')
        .where('organization_id', '=', other.id)
        .execute();
      assert.equal(sessions.length, 0, 'no reconnect session was started for it');
    });

    it('disconnects after a confirmation: tokens and data key gone, and says how to revoke at Microsoft', async () => {
      const account = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId,
        email: 'drew@outlook.com',
      });
      const confirm = await client.get(`/dashboard/accounts/${account.id}/disconnect`);
      assert.equal(confirm.statusCode, 200);
      assert.match(confirm.body, /id="confirm-disconnect"/);
      const done = await client.post(`/dashboard/accounts/${account.id}/disconnect`, {});
      assert.equal(done.statusCode, 303);
      assert.equal(done.headers.location, `/dashboard/accounts/${account.id}?disconnected=1`);

      const tokens = await service.deps.db
        .selectFrom('account_tokens')
        .select('account_id')
        .where('account_id', '=', account.id)
        .execute();
      const keys = await service.deps.db
        .selectFrom('vault_data_keys')
        .select('subject_id')
        .where('subject_id', '=', account.id)
        .execute();
      assert.deepEqual(tokens, []);
      assert.deepEqual(keys, []);

      const page = await client.get(done.headers.location as string);
      assert.match(page.body, /class="badge disconnected"/);
      assert.match(text(page.body, 'connect-notice') ?? '', /Disconnected drew@outlook\.com/);
      assert.match(page.body, /id="revoke-at-microsoft"/);
      assert.match(page.body, /account\.microsoft\.com<\/a> → Privacy → Apps and services/);
      assert.match(page.body, /myapps\.microsoft\.com/);
      assert.match(page.body, /id="reconnect"[^>]*>Connect again</);
      assert.match(listItems(page.body, 'timeline')[0] ?? '', /Disconnected/);
    });

    it('starts a connect session for the signed-in user that returns to the dashboard', async () => {
      const list = await client.get('/dashboard');
      assert.match(
        list.body,
        /<input type="hidden" name="profile" value="send">\s*<button type="submit" id="add-account">/,
      );
      assert.match(list.body, /id="add-account-warmup"/);
      const started = await client.post('/dashboard/accounts/new', { provider: 'microsoft', profile: 'warmup' });
      assert.equal(started.statusCode, 303);
      const location = String(started.headers.location);
      const match = /^http:\/\/127\.0\.0\.1:\d+\/connect\/(cs_[0-9a-z]{26})/.exec(location);
      assert.ok(match, location);
      const session = await service.deps.db
        .selectFrom('connect_sessions')
        .selectAll()
        .where('id', '=', match[1] ?? '')
        .executeTakeFirstOrThrow();
      assert.equal(session.organization_id, organizationId);
      assert.equal(session.owner_external_id, ownerExternalId);
      assert.equal(session.permission_profile, 'warmup');
      assert.equal(session.return_url, `${service.url}/dashboard/connect-return`);
      const organization = await getOrganization(service.deps.db, organizationId);
      assert.ok(organization?.allowedReturnUrls.includes(`${service.url}/dashboard/connect-return`));

      const refused: Record<string, string>[] = [{ provider: 'yahoo', profile: 'send' }, { profile: 'everything' }];
      for (const fields of refused) {
        assert.equal((await client.post('/dashboard/accounts/new', fields)).statusCode, 400);
      }
    });

    it('reconnects an account for its own owner and mailbox, and tells how a connect attempt ended', async () => {
      const broken = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId: 'host-user-9',
        email: 'jo@outlook.com',
        profile: 'warmup',
        status: { status: 'reconnect_required', reason: 'consent_revoked' },
      });
      const started = await client.post(`/dashboard/accounts/${broken.id}/reconnect`, {});
      assert.equal(started.statusCode, 303);
      const sessionId = /\/connect\/(cs_[0-9a-z]{26})$/.exec(String(started.headers.location))?.[1] ?? '';
      const session = await service.deps.db
        .selectFrom('connect_sessions')
        .selectAll()
        .where('id', '=', sessionId)
        .executeTakeFirstOrThrow();
      assert.equal(session.owner_external_id, 'host-user-9', 'the account’s owner, not the dashboard user');
      assert.equal(session.permission_profile, 'warmup');
      assert.equal(session.login_hint, 'jo@outlook.com');

      // The user came back without finishing (e.g. "Cancel and go back" on the provider page).
      const back = await client.get(`/dashboard/connect-return?mailbridge_session=${sessionId}&status=cancelled`);
      assert.equal(back.statusCode, 303);
      assert.equal(back.headers.location, `/dashboard?connect=${sessionId}`);
      const notice = await client.get(back.headers.location as string);
      assert.match(text(notice.body, 'connect-notice') ?? '', /The connection was not completed/);

      // A declined consent reads as the connect flow words it.
      await service.deps.db
        .updateTable('connect_sessions')
        .set({ status: 'failed', outcome: 'declined' })
        .where('id', '=', sessionId)
        .execute();
      const declined = await client.get(`/dashboard?connect=${sessionId}`);
      assert.match(text(declined.body, 'connect-notice') ?? '', /Permission not given/);

      // Another organisation's session id says nothing.
      const other = await createOrganization(service.deps.db, service.deps.clock, { name: 'Elsewhere' });
      await service.deps.db
        .updateTable('connect_sessions')
        .set({ organization_id: other.id })
        .where('id', '=', sessionId)
        .execute();
      const foreign = await client.get(`/dashboard?connect=${sessionId}`);
      assert.equal(text(foreign.body, 'connect-notice'), undefined);
    });
  });
}
