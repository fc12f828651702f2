import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTransaction } from '../../src/db/transaction.js';
import { listEvents } from '../../src/events/event-recorder.js';
import { createOrganization, ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { applySafetySignal } from '../../src/warmup/warmup-state.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { seedConnectedAccount } from './account-fixtures.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, DashboardClient, seedAdmin } from './dashboard-client.js';

const WORK_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const WARMUP_SCOPES = ['User.Read', 'Mail.Send', 'Mail.ReadWrite', 'MailboxSettings.ReadWrite', 'openid', 'email'];

/** The text of the element with this id (tags stripped). */
function text(page: string, id: string): string | undefined {
  const match = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</(?:p|dd|span|div|h1|td)>`).exec(page);
  return match?.[1]
    ?.replace(/<[^>]+>/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

for (const dialect of TEST_DIALECTS) {
  describe(`dashboard warm-up pages [${dialect}]`, () => {
    let service: TestService;
    let client: DashboardClient;
    let organizationId: string;

    before(async () => {
      service = await startTestService({ dialect });
      await seedAdmin(service.deps);
      organizationId = (await ensureDefaultOrganization(service.deps.db, service.deps.clock)).id;
      client = new DashboardClient(service.app);
      assert.equal((await client.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).statusCode, 303);
    });
    after(() => service?.close());

    const warmupRow = (accountId: string) =>
      service.deps.db.selectFrom('warmup_accounts').selectAll().where('account_id', '=', accountId).executeTakeFirst();

    it('a send-only mailbox: says why, and Reconnect asks Microsoft for the warm-up permissions', async () => {
      const account = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId: 'owner-send',
        email: 'send-only@outlook.com',
      });
      const page = await client.get(`/dashboard/accounts/${account.id}/warmup`);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /data-code="WARMUP_PROFILE_REQUIRED"/);
      assert.match(text(page.body, 'warmup-refusal') ?? '', /send-only profile/);
      assert.doesNotMatch(page.body, /id="warmup-enable"/, 'no enable button that could only fail');
      assert.match(page.body, /<input type="hidden" name="profile" value="warmup">/);

      const reconnect = await client.post(`/dashboard/accounts/${account.id}/reconnect`, { profile: 'warmup' });
      assert.equal(reconnect.statusCode, 303);
      const connectSession = await service.deps.db
        .selectFrom('connect_sessions')
        .select(['permission_profile'])
        .orderBy('id', 'desc')
        .executeTakeFirstOrThrow();
      assert.equal(connectSession.permission_profile, 'warmup', 'incremental consent: the warm-up profile');
      // Without the field, Reconnect keeps the account's own profile.
      await client.get(`/dashboard/accounts/${account.id}`);
      assert.equal((await client.post(`/dashboard/accounts/${account.id}/reconnect`, {})).statusCode, 303);
      const plain = await service.deps.db
        .selectFrom('connect_sessions')
        .select(['permission_profile'])
        .orderBy('id', 'desc')
        .executeTakeFirstOrThrow();
      assert.equal(plain.permission_profile, 'send');
      assert.equal(await warmupRow(account.id), undefined);
    });

    it('enable with settings: a refused form keeps what was typed and names each field; then on, paused, resumed', async () => {
      const account = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId: 'owner-warm',
        email: 'warm@contoso.example',
        tenantId: WORK_TENANT,
        profile: 'warmup',
        scopes: WARMUP_SCOPES,
      });
      const accountPage = await client.get(`/dashboard/accounts/${account.id}`);
      assert.match(accountPage.body, new RegExp(`href="/dashboard/accounts/${account.id}/warmup" id="account-warmup"`));
      const off = await client.get(`/dashboard/accounts/${account.id}/warmup`);
      assert.equal(off.statusCode, 200);
      assert.equal(text(off.body, 'warmup-status'), 'Off');
      assert.match(text(off.body, 'warmup-why') ?? '', /opt-in/);
      assert.match(off.body, /id="warmup-enable"/);
      assert.doesNotMatch(off.body, /id="warmup-charts"/, 'no figures before warm-up ever ran');

      const refused = await client.post(`/dashboard/accounts/${account.id}/warmup/enable`, {
        settings: '1',
        dailyCeiling: '41',
        replyRate: '0.3',
        timeZone: 'Mars/Olympus_Mons',
        weekends: 'on',
      });
      assert.equal(refused.statusCode, 400);
      assert.match(refused.body, /id="warmup-dailyCeiling"[^>]*value="41" aria-invalid="true"/);
      assert.match(text(refused.body, 'warmup-dailyCeiling-error') ?? '', /40/);
      assert.match(text(refused.body, 'warmup-timeZone-error') ?? '', /not a known time zone/);
      assert.match(refused.body, /id="warmup-timeZone"[^>]*value="Mars\/Olympus_Mons"/);
      assert.match(refused.body, /id="warmup-weekends" name="weekends" checked/);
      assert.equal(await warmupRow(account.id), undefined, 'nothing stored');

      const enabled = await client.post(`/dashboard/accounts/${account.id}/warmup/enable`, {
        settings: '1',
        dailyCeiling: '12',
        replyRate: '0.25',
        timeZone: 'Europe/Paris',
        weekends: 'on',
      });
      assert.equal(enabled.statusCode, 303);
      assert.equal(enabled.headers.location, `/dashboard/accounts/${account.id}/warmup?done=enabled`);
      const row = await warmupRow(account.id);
      assert.equal(row?.enabled, 1);
      assert.deepEqual(JSON.parse(row?.settings ?? '{}'), {
        dailyCeiling: 12,
        replyRate: 0.25,
        weekends: true,
        receiveOnly: false,
        timeZone: 'Europe/Paris',
      });
      const on = await client.get(enabled.headers.location);
      assert.equal(text(on.body, 'warmup-status'), 'Active');
      assert.match(text(on.body, 'notice') ?? '', /Warm-up is on/);
      assert.match(on.body, /id="warmup-dailyCeiling"[^>]*value="12"/);
      assert.match(on.body, /id="warmup-save"/);
      assert.match(on.body, /id="warmup-pause"/);
      assert.match(on.body, /<svg class="chart" id="warmup-volume-chart"[^>]*role="img"/);
      assert.match(on.body, /<svg class="chart" id="warmup-placement-chart"[^>]*role="img"/);
      assert.match(text(on.body, 'warmup-charts') ?? '', /Within the warm-up network/);
      assert.match(on.body, /id="warmup-metrics"[\s\S]*Within the warm-up network/);
      assert.match(on.body, /id="warmup-no-activity"/);

      // Settings: a bad value is refused without changing anything; a good one is saved.
      const badSave = await client.post(`/dashboard/accounts/${account.id}/warmup/settings`, {
        settings: '1',
        replyRate: '0.9',
      });
      assert.equal(badSave.statusCode, 400);
      assert.match(text(badSave.body, 'warmup-replyRate-error') ?? '', /0\.45/);
      assert.equal((await warmupRow(account.id))?.settings, row?.settings);
      const saved = await client.post(`/dashboard/accounts/${account.id}/warmup/settings`, {
        settings: '1',
        dailyCeiling: '',
        receiveOnly: 'on',
      });
      assert.equal(saved.statusCode, 303);
      assert.deepEqual(JSON.parse((await warmupRow(account.id))?.settings ?? '{}'), {
        weekends: false,
        receiveOnly: true,
      });

      // Pause, then resume: the events the API and webhooks see.
      await client.get(`/dashboard/accounts/${account.id}/warmup`);
      assert.equal((await client.post(`/dashboard/accounts/${account.id}/warmup/pause`, {})).statusCode, 303);
      const paused = await client.get(`/dashboard/accounts/${account.id}/warmup?done=paused`);
      assert.equal(text(paused.body, 'warmup-status'), 'Paused');
      assert.match(paused.body, /id="warmup-resume"/);
      assert.doesNotMatch(paused.body, /id="warmup-remediation"/, 'the user’s own pause needs no remedy');
      assert.equal((await client.post(`/dashboard/accounts/${account.id}/warmup/enable`, {})).statusCode, 303);
      assert.equal((await warmupRow(account.id))?.state, 'active');
      const types = (await listEvents(service.deps.db, organizationId, { accountId: account.id, limit: 50 })).map(
        (event) => event.type,
      );
      assert.deepEqual(
        types.filter((type) => type.startsWith('warmup.')),
        ['warmup.started', 'warmup.paused', 'warmup.resumed'],
      );

      // The pool lists it with its state and links to its page.
      const pool = await client.get('/dashboard/warmup');
      assert.equal(pool.statusCode, 200);
      assert.match(pool.body, new RegExp(`<tr data-account="${account.id}" data-state="active">`));
      assert.match(pool.body, new RegExp(`href="/dashboard/accounts/${account.id}/warmup">warm@contoso.example`));
      assert.match(text(pool.body, 'warmup-total-members') ?? '', /^1 \(1 switched on\)$/);
      assert.match(pool.body, /Every figure here is within the warm-up network/);
    });

    it('a restricted sender: paused with the reason and what to do, and the user may resume on probation', async () => {
      const account = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId: 'owner-restricted',
        email: 'restricted@contoso.example',
        tenantId: WORK_TENANT,
        profile: 'warmup',
        scopes: WARMUP_SCOPES,
      });
      await client.get(`/dashboard/accounts/${account.id}/warmup`);
      assert.equal((await client.post(`/dashboard/accounts/${account.id}/warmup/enable`, {})).statusCode, 303);
      // The engine's own path for a 5.1.8 bounce (warmup-state.ts), as it runs when it reads the report.
      const row = await warmupRow(account.id);
      assert.ok(row);
      await withTransaction(service.deps.db, (trx) =>
        applySafetySignal(
          trx,
          service.deps,
          row,
          { kind: 'bounce', at: service.deps.clock.now(), enhancedStatus: '5.1.8', recipient: 'x@fabrikam.example' },
          { ownerExternalId: 'owner-restricted' },
        ),
      );
      const page = await client.get(`/dashboard/accounts/${account.id}/warmup`);
      assert.equal(text(page.body, 'warmup-status'), 'Paused');
      assert.equal(text(page.body, 'warmup-reason'), 'restricted_sender');
      assert.match(
        text(page.body, 'warmup-remediation') ?? '',
        /Restricted entities page of the Microsoft Defender portal/,
      );
      assert.match(text(page.body, 'warmup-resume') ?? '', /Resume now, on probation/);
      assert.match(page.body, /id="warmup-pause"/, 'the user may still switch it off');
      assert.equal((await client.post(`/dashboard/accounts/${account.id}/warmup/enable`, {})).statusCode, 303);
      const resumed = await client.get(`/dashboard/accounts/${account.id}/warmup`);
      assert.equal(text(resumed.body, 'warmup-status'), 'Probation');
      assert.match(text(resumed.body, 'warmup-why') ?? '', /start volume until/);
      assert.doesNotMatch(resumed.body, /id="warmup-resume"/);
    });

    it('forms need the page’s token, and another organisation’s mailbox is not found', async () => {
      const account = await seedConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId: 'owner-csrf',
        email: 'csrf@contoso.example',
        tenantId: WORK_TENANT,
        profile: 'warmup',
        scopes: WARMUP_SCOPES,
      });
      const forged = await client.post(`/dashboard/accounts/${account.id}/warmup/enable`, { _csrf: null });
      assert.equal(forged.statusCode, 403);
      assert.equal(await warmupRow(account.id), undefined);

      const elsewhere = await createOrganization(service.deps.db, service.deps.clock, { name: 'Elsewhere' });
      const theirs = await seedConnectedAccount(service.deps, {
        organizationId: elsewhere.id,
        ownerExternalId: 'owner-theirs',
        email: 'theirs@contoso.example',
        tenantId: WORK_TENANT,
        profile: 'warmup',
        scopes: WARMUP_SCOPES,
      });
      assert.equal((await client.get(`/dashboard/accounts/${theirs.id}/warmup`)).statusCode, 404);
      await client.get('/dashboard/warmup');
      assert.equal((await client.post(`/dashboard/accounts/${theirs.id}/warmup/enable`, {})).statusCode, 404);
      assert.equal(await warmupRow(theirs.id), undefined);
      assert.doesNotMatch((await client.get('/dashboard/warmup')).body, /theirs@contoso\.example/);
    });
  });
}
